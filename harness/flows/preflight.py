"""The pre-flight: what a run will hit and how hard, printed (and kept in the manifest) before
any load; ``--preflight`` prints it and sends nothing (docs/distributed.md)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from rich.console import Console

from harness.rundir import RunDirectory

if TYPE_CHECKING:
    from harness.flows.run import RunOutcome, RunRequest


def preflight_only(request: RunRequest, console: Console | None = None) -> RunOutcome:
    """``--preflight``: print what the run would hit and how hard, send no load; exit 0."""
    from harness.flows.run import RunOutcome, default_console
    console = console or default_console()
    print_preflight(request, request.target, None, console)
    console.print("pre-flight only (--preflight): no load was sent")
    return RunOutcome(Path(), "preflight", 0)


def print_preflight(request: RunRequest, target: str | None, run_dir: RunDirectory | None,
                     console: Console) -> None:
    """The pre-flight block on the console and in the manifest (``preflight``), before any load."""
    from harness.config.allow import preflight_lines
    checked = request.checked_target
    lines = preflight_lines(request.profile, checked, request.workers, request.shop_journeys,
                            url=target or "the embedded platform (started for the run)")
    for line in lines:
        console.print(line)
    if run_dir is not None:
        run_dir.update_manifest(preflight={"lines": lines, "target": checked.as_manifest() if checked else None,
                                           "max_requests_per_s": request.profile.max_requests_per_s,
                                           "abort": request.profile.abort.as_dict() or None})
