"""report.md: a short summary for a pull-request comment (headline, targets, stages)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TextIO

from harness.report import model
from harness.report.rundata import RunData

MAX_REASONS = 8


def short_source(source: str, limit: int = 48) -> str:
    """The citation without its quotation: "000 ch.2 容量彈性不足: 「…」" → "000 ch.2 容量彈性不足"."""
    head = source.split("「")[0].split(": ")[0].strip().rstrip(":;,").strip()
    return head if len(head) <= limit else head[: limit - 1] + "…"


def _cell(text: object) -> str:
    """Table-safe cell: pipes escaped, newlines flattened."""
    return str(text).replace("|", "\\|").replace("\n", " ")


@dataclass
class MarkdownReport:
    """Headline verdict with reasons, the targets table and the per-stage table."""

    head: dict
    targets: list[dict]
    stages: list[dict]
    generated_at: str

    @classmethod
    def from_run(cls, run: RunData, generated_at: str) -> MarkdownReport:
        """Builds the summary from a loaded run."""
        return cls(model.headline(run.results, run.manifest), model.target_rows(run.results),
                   model.stage_rows(run.results), generated_at)

    def render(self, stream: TextIO) -> None:
        """Writes the Markdown to ``stream``."""
        head = self.head
        symbol = {"pass": "✅", "fail": "❌", "invalid": "⚠️", "interrupted": "⏸️"}.get(head["verdict"], "❓")
        stream.write(f"## {symbol} {head['verdict_text']}\n\n")
        stream.write(f"Run `{head['run_id']}`. Targets: "
                     + ", ".join(f"{label} {n}" for label, n in head["status_counts"]) + "\n\n")
        reasons = head["reasons"]
        for reason in reasons[:MAX_REASONS]:
            stream.write(f"- {reason}\n")
        if len(reasons) > MAX_REASONS:
            stream.write(f"- … and {len(reasons) - MAX_REASONS} more (see report.html)\n")
        if reasons:
            stream.write("\n")
        stream.write("| status | target | measured | 95% interval | threshold | n | source |\n")
        stream.write("|---|---|---:|---:|---:|---:|---|\n")
        for t in self.targets:
            stream.write(f"| **{t['status_label']}** | `{_cell(t['id'])}` | {_cell(t['measured'])} | "
                         f"{_cell(t['interval'])} | {_cell(t['threshold'])} | {_cell(t['n'])} | {_cell(short_source(t['source']))} |\n")
        stream.write("\n| stage | journeys/s intended → achieved | requests | availability [95% CI] "
                     "| API P50 | API P95 [95% CI] | API P99 |\n")
        stream.write("|---|---:|---:|---:|---:|---:|---:|\n")
        for s in self.stages:
            r, a = s["requests"], s["api"]
            bound = " ⚠️ generator-bound" if s["generator_bound"] else ""
            stream.write(f"| {_cell(s['name'])}{bound} | {s['intended']} → {s['achieved']} | {r['count']} | "
                         f"{r['availability']} {r['availability_ci']} | {a['p50']} | {a['p95']} {a['p95_ci']} | "
                         f"{a['p99']} |\n")
        stream.write(f"\n<sub>Generated {self.generated_at}; details, charts and journeys in report.html.</sub>\n")
