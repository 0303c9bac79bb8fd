"""What a run prints: a live progress line per stage while it runs, a summary table at the end.

Both only format data they are handed (``progress`` events, the ``results.json`` dict) onto a
rich Console; nothing here reads files or clocks.
"""

from __future__ import annotations

from rich.console import Console
from rich.table import Table
from rich.text import Text

NON_TTY_EVERY_S = 10.0  # progress lines in a log (CI): one per stage every 10 s of stage time
VERDICT_STYLE = {"pass": "green", "fail": "red", "invalid": "yellow", "interrupted": "yellow",
                 "unknown": "yellow", "skipped": "dim"}


def format_progress(event: dict, stage_duration_s: float | None) -> str:
    """One progress line from a ``progress`` event (docs/run-directory.md)."""
    elapsed_s = float(event.get("elapsed_s") or 0.0)
    of = f"/{stage_duration_s:.0f}" if stage_duration_s else ""
    p95_ms = event.get("p95_ms")
    p95 = f"{p95_ms:.0f} ms" if isinstance(p95_ms, int | float) else "-"
    return (f"[{event.get('stage', '?')}] {elapsed_s:5.1f}{of} s  "
            f"journeys/s {_num(event.get('intended_journeys_per_s'))} intended "
            f"{_num(event.get('achieved_journeys_per_s'))} achieved  "
            f"req/s {_num(event.get('requests_per_s'), 1)}  P95 of all requests so far {p95}  "
            f"errors {event.get('failures', 0)}")


def _num(value: object, digits: int = 2) -> str:
    return f"{value:.{digits}f}" if isinstance(value, int | float) else "-"


class ProgressPrinter:
    """Shows ``progress`` events: one line per stage, rewritten in place on a terminal; on a
    non-terminal (a CI log) a line every ``NON_TTY_EVERY_S`` seconds and at the stage's end."""

    def __init__(self, console: Console, stage_durations_s: dict[str, float]) -> None:
        self.console = console
        self.stage_durations_s = stage_durations_s
        self._stage: str | None = None
        self._pending = ""  # the latest progress line not printed yet (logs only)
        self._last_printed_s = -NON_TTY_EVERY_S
        self._open_line = False

    def on_event(self, event: dict) -> None:
        """Feed any event; progress, stage_start/stage_end and platform_exit are shown."""
        kind = event.get("kind")
        if kind == "progress":
            stage = event.get("stage")
            if stage != self._stage:
                self._finish_line()
                self._stage, self._last_printed_s = stage, -NON_TTY_EVERY_S
            self._pending = format_progress(event, self.stage_durations_s.get(stage))
            elapsed_s = float(event.get("elapsed_s") or 0.0)
            if self.console.is_terminal:
                self.console.file.write("\r" + self._pending.ljust(100))
                self.console.file.flush()
                self._open_line, self._pending = True, ""
            elif elapsed_s - self._last_printed_s >= NON_TTY_EVERY_S:
                self.console.print(self._pending, highlight=False, soft_wrap=True, markup=False)
                self._last_printed_s, self._pending = elapsed_s, ""
        elif kind == "stage_end":
            self._finish_line()
            self._stage = None
        elif kind == "platform_exit":
            self._finish_line()
            self.console.print(f"platform exited with code {event.get('returncode')}", style="bold red")

    def _finish_line(self) -> None:
        """End the terminal's in-place line, or print the latest line a log has not seen yet."""
        if self._open_line:
            self.console.file.write("\n")
            self._open_line = False
        elif self._pending:
            self.console.print(self._pending, highlight=False, soft_wrap=True, markup=False)
        self._pending = ""

    def close(self) -> None:
        """End the current line (call when the load has stopped)."""
        self._finish_line()


def stage_table(results: dict) -> Table:
    """Per stage: intended/achieved journeys/s, dropped arrivals, requests, availability, percentiles.

    Every column names its scope: requests, failures and availability count every request of the
    stage (shop and gateway, as report.md's stage table); the percentiles are the API scope
    (requests to /api/), the figures the api-* targets, report.md and `harness history` judge and
    show. The window is the steady part of each stage (its ramp left out)."""
    table = Table(title=f"run {results.get('run_id', '')}", title_justify="left",
                  caption="per stage, steady part (ramp excluded); requests, failures and availability: all "
                          "requests (shop and gateway); API P50/P95/P99: requests to /api/ (the api-* targets' "
                          "scope); generator CPU in % of one core", caption_justify="left")
    for header in ("stage", "journeys/s intended", "achieved", "dropped", "requests (all)", "failures (all)",
                   "availability (all)", "API P50 ms", "API P95 ms", "API P99 ms", "generator CPU max"):
        table.add_column(header, justify="left" if header == "stage" else "right")
    for stage in results.get("stages", []):
        requests = stage.get("requests") or {}
        api = stage.get("api") or {}
        generator = stage.get("generator") or {}
        availability = requests.get("availability")
        table.add_row(
            Text(str(stage.get("name"))),
            _num(stage.get("intended_journeys_per_s")),
            _num(stage.get("achieved_journeys_per_s")),
            str(stage.get("dropped_arrivals", "-")),
            str(requests.get("count", "-")),
            str(requests.get("failures", "-")),
            f"{availability * 100:.2f}%" if isinstance(availability, int | float) else "-",
            _num(api.get("p50_ms"), 0), _num(api.get("p95_ms"), 0), _num(api.get("p99_ms"), 0),
            f"{generator['cpu_percent_max']:.0f}%" if isinstance(generator.get("cpu_percent_max"), int | float)
            else "-",
        )
    return table


def targets_table(results: dict) -> Table:
    """One row per target: id, status, the measured value in its unit, and the one-line
    explanation (value, interval, n, threshold, source). Shared by campaign and check."""
    from harness.core.units import COUNT, DURATION, GROWTH, RATIO, format_value

    kinds = {"ms": DURATION, "ratio": RATIO, "bytes/h": GROWTH, "count": COUNT}
    table = Table(title=f"targets of {results.get('run_id', '')}", title_justify="left")
    table.add_column("target", no_wrap=True)
    table.add_column("status", no_wrap=True)
    table.add_column("measured", no_wrap=True)
    table.add_column("explanation", overflow="fold")
    for target in results.get("targets", []):
        status = str(target.get("status", "?"))
        measured = target.get("measured")
        measured_text = "-" if measured is None else format_value(measured, kinds.get(target.get("unit"), COUNT))
        explanation = str(target.get("explanation", ""))
        explanation = explanation.partition(": ")[2] or explanation  # the status is its own column
        # Text cells: an explanation or id holding "[...]" must not be read as rich markup.
        table.add_row(Text(str(target.get("id"))), Text(status, style=VERDICT_STYLE.get(status, "white")),
                      Text(measured_text), Text(explanation))
    return table


def _fmt(value: object) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def print_summary(console: Console, results: dict) -> None:
    """Print the stage table, the targets table and the verdict with its reasons."""
    console.print(stage_table(results))
    if results.get("targets"):
        console.print(targets_table(results))
    verdict = str(results.get("verdict", "unknown"))
    line = Text("verdict: ")
    line.append(verdict, style=f"bold {VERDICT_STYLE.get(verdict, 'white')}")
    console.print(line)
    for reason in results.get("invalid_reasons") or []:
        console.print(f"  invalid: {reason}", markup=False, highlight=False)
