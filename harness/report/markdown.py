"""report.md: a short summary for a pull-request comment (headline, targets, stages)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, TextIO

from harness.report import model
from harness.report.fmt import md_table

if TYPE_CHECKING:  # rundata reads files with pandas; the table functions here need neither
    from harness.report.rundata import RunData

MAX_REASONS = 8


def short_source(source: str, limit: int = 48) -> str:
    """The citation without its quotation: "000 ch.2 容量彈性不足: 「…」" → "000 ch.2 容量彈性不足"."""
    head = source.split("「")[0].split(": ")[0].strip().rstrip(":;,").strip()
    return head if len(head) <= limit else head[: limit - 1] + "…"


def targets_markdown(rows: list[dict]) -> list[str]:
    """THE Markdown table of targets (report.md, the gate's summary): one line per row of
    :func:`harness.report.model.target_rows` (status, id, measured, 95% interval, threshold, n, source)."""
    return md_table(["status", "target", "measured", "95% interval", "threshold", "n", "source"],
                    [[f"**{t['status_label']}**", f"`{t['id']}`", t["measured"], t["interval"], t["threshold"], t["n"],
                      short_source(t["source"])] for t in rows], "llrrrrl")


def stages_markdown(rows: list[dict]) -> list[str]:
    """report.md's stage table: every request's count and availability, the API scope's percentiles."""
    return md_table(["stage", "journeys/s intended → achieved", "requests (all)", "availability, all requests [95% CI]",
                     "API P50", "API P95 [95% CI]", "API P99"],
                    [[s["name"] + (" ⚠️ generator-bound" if s["generator_bound"] else ""),
                      f"{s['intended']} → {s['achieved']}", s["requests"]["count"],
                      f"{s['requests']['availability']} {s['requests']['availability_ci']}", s["api"]["p50"],
                      f"{s['api']['p95']} {s['api']['p95_ci']}", s["api"]["p99"]] for s in rows], "lrrrrrr")


@dataclass
class MarkdownReport:
    """Headline verdict with reasons, the targets table and the per-stage table."""

    head: dict
    targets: list[dict]
    stages: list[dict]
    generated_at: str
    generators: tuple[list[dict], list[str]] = ([], [])

    @classmethod
    def from_run(cls, run: RunData, generated_at: str) -> MarkdownReport:
        """Builds the summary from a loaded run."""
        return cls(model.headline(run.results, run.manifest), model.target_rows(run.results),
                   model.stage_rows(run.results), generated_at, model.generator_rows(run.results))

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
        stream.write("\n".join(targets_markdown(self.targets)) + "\n")
        stream.write("\n" + "\n".join(stages_markdown(self.stages)) + "\n")
        workers, refused = self.generators
        if workers or refused:
            stream.write("\n**Load generators**\n\n")
            if workers:
                stream.write("\n".join(md_table(["worker", "name", "address", "clock offset", "state", "sent", "merged"],
                                                [[w["worker"], w["name"], w["host"], w["clock"], w["state"], w["sent"],
                                                  w["merged"]] for w in workers])) + "\n\n")
            for line in refused:
                stream.write(f"- ✘ {line}\n")
        stream.write(f"\n<sub>Generated {self.generated_at}; details, charts and journeys in report.html.</sub>\n")
