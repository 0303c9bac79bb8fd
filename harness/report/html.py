"""report.html: one self-contained page (charts embedded as base64 PNG, inline CSS, no scripts)."""

from __future__ import annotations

import base64
from dataclasses import dataclass
from typing import TextIO

import jinja2

from harness import __version__
from harness.report import model, sections, series
from harness.report.html_template import TEMPLATE
from harness.report.rundata import RunData

VERDICT_SYMBOLS = {"pass": "✔", "fail": "✘", "invalid": "⚠", "interrupted": "⚠"}
TIME_CHARTS = [
    ("latency.png", "Request response time P50/P95/P99 per 5 s window, log scale, all requests including ramps."),
    ("throughput.png", "Journeys started per second: intended by the open-model schedule vs achieved; requests per "
                       "second; load generator CPU."),
    ("errors.png", "Failed requests per 5 s window by error kind (count in the legend)."),
]
STAGE_CHARTS = [
    ("availability.png", "Availability per stage with its 95% interval; horizontal lines are availability targets."),
    ("p95_per_stage.png", "API P95 per stage with its 95% interval; horizontal lines are latency targets."),
]

_ENV = jinja2.Environment(autoescape=True, undefined=jinja2.StrictUndefined, keep_trailing_newline=True)
_TEMPLATE = _ENV.from_string(TEMPLATE)


@dataclass
class HtmlReport:
    """Everything the page shows; ``render`` writes it to the stream it is handed."""

    context: dict

    @classmethod
    def from_run(cls, run: RunData, images: dict[str, bytes], generated_at: str) -> HtmlReport:
        """Builds the page's content from a loaded run and its charts' PNG bytes."""
        results = run.results
        stages = model.stage_rows(results)
        business = {s["name"]: dict(s["business"]) for s in stages}
        labels: list[str] = []
        for s in stages:
            labels += [label for label, _ in s["business"] if label not in labels]
        # the orchestration records the CPU profile in the manifest; a later analysis may copy it
        cpu = results.get("cpu_profile") or run.manifest.get("cpu_profile")
        profile = run.manifest.get("profile") or {}
        cpu_stage = (profile.get("content") or {}).get("cpu_profile") or \
            ((profile.get("content") or {}).get("profilers") or {}).get("cpu_profile_stage")
        head = model.headline(results, run.manifest)
        context = {
            "head": head,
            "verdict_symbol": VERDICT_SYMBOLS.get(head["verdict"], "?"),
            "targets": model.target_rows(results),
            "availability_definition": results.get("availability_definition") or "not stated in results.json",
            "stages": stages,
            "degradation": model.degradation_rows(results),
            "has_faults": bool(series.fault_spans(run.events, run.t0_s, float("inf"))),
            "time_charts": [(n, c) for n, c in TIME_CHARTS if n in images],
            "stage_charts": [(n, c) for n, c in STAGE_CHARTS if n in images],
            "images": {name: base64.b64encode(data).decode("ascii") for name, data in images.items()},
            "outcomes": run.series.outcomes,
            "business_labels": labels,
            "business": business,
            "definitions": sorted((results.get("definitions") or {}).items()),
            "notes": [str(n) for n in results.get("notes") or []],
            "memory": sections.memory_view(results),
            "memory_chart": "memory.png" in images,
            "links": sections.profile_links(run.profile_files),
            "cpu": sections.cpu_view(cpu, cpu_stage),
            "faults": sections.fault_rows(results.get("faults"), run.t0_s),
            "recon": sections.reconciliation_view(results),
            "generators": model.generator_rows(results),
            "generated_at": generated_at,
            "harness_version": __version__,
            "run_dir_name": run.run_dir.name,
        }
        return cls(context)

    def render(self, stream: TextIO) -> None:
        """Writes the page to ``stream``."""
        stream.write(_TEMPLATE.render(**self.context))
