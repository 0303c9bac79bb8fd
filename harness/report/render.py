"""render_run: the report's one entry point with side effects (reads the run, writes the files).

Everything is built in memory first (figures, then text), then each file is written to a
temporary name beside its target and renamed over it, so a crash mid-render never leaves a
half-written report where a reader expects a whole one (harness.rundir.write_bytes_atomic).
"""

from __future__ import annotations

import io
from datetime import UTC, datetime
from pathlib import Path

from harness.errors import RunFailedError
from harness.report.charts import png_bytes
from harness.report.figures import build_figures
from harness.report.html import HtmlReport
from harness.report.junit import JunitReport
from harness.report.markdown import MarkdownReport
from harness.report.rundata import load_run
from harness.rundir import write_bytes_atomic

CHARTS_DIR = "charts"


def _text(renderer) -> bytes:
    buffer = io.StringIO()
    renderer.render(buffer)
    return buffer.getvalue().encode("utf-8")


def render_run(run_dir: Path, results: dict | None = None, *, generated_at: str | None = None) -> list[Path]:
    """Renders report.html, report.md, junit.xml and charts/*.png into ``run_dir``.

    ``results``: the results.json content (read from the run directory when None).
    ``generated_at``: the timestamp printed in the reports (default: now, UTC, to the second);
    it is the only thing that differs between two renders of the same run.
    Returns the written paths (charts first, in report order). Raises InputError naming the
    file when the run directory is missing or malformed, RunFailedError when it cannot be written.
    """
    run_dir = Path(run_dir)
    run = load_run(run_dir, results)
    if generated_at is None:
        generated_at = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    charts_dir = run_dir / CHARTS_DIR
    try:  # before the slow part, so an unwritable run directory fails at once
        charts_dir.mkdir(exist_ok=True)
    except OSError as error:
        raise RunFailedError(f"{charts_dir}: cannot create: {error.strerror or error}") from error
    images = {name: png_bytes(figure) for name, figure in build_figures(run).items()}
    outputs: list[tuple[Path, bytes]] = [(run_dir / CHARTS_DIR / name, data) for name, data in images.items()]
    outputs += [
        (run_dir / "report.html", _text(HtmlReport.from_run(run, images, generated_at))),
        (run_dir / "report.md", _text(MarkdownReport.from_run(run, generated_at))),
        (run_dir / "junit.xml", _text(JunitReport.from_results(run.results, run.manifest))),
    ]
    for path, data in outputs:
        write_bytes_atomic(path, data)
    for stale in charts_dir.glob("*.png"):  # charts of an earlier render that this one no longer draws
        if stale.name not in images:
            stale.unlink()
    return [path for path, _ in outputs]
