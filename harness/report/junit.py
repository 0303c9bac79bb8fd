"""junit.xml: one testcase per target, so CI shows each documented target as a test.

pass → a passing testcase; fail → <failure> with the explanation; error or unmatched scope →
<error>; warn → passes, with a ``status=warn`` property and the explanation in <system-out>;
unknown → <skipped>. A run that is invalid or interrupted adds a ``run.validity`` testcase with
an <error>, so CI cannot read a partial run as green.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass
from typing import TextIO


def _classname(scope: object) -> str:
    """JUnit classname from a target's scope: "stage:300%" → "targets.stage.300%"."""
    text = str(scope or "run").strip() or "run"
    return "targets." + text.replace(":", ".").replace(" ", "_")


@dataclass
class JunitReport:
    """The targets of one run as a JUnit testsuite."""

    run_id: str
    timestamp: str
    verdict: str
    invalid_reasons: list[str]
    targets: list[dict]

    @classmethod
    def from_results(cls, results: dict, manifest: dict) -> JunitReport:
        """Builds the suite from results.json and the manifest (for the suite's timestamp)."""
        return cls(str(results.get("run_id") or manifest.get("run_id") or "run"),
                   str(manifest.get("started_at") or ""), str(results.get("verdict", "")),
                   [str(r) for r in results.get("invalid_reasons") or []],
                   [t for t in results.get("targets") or [] if isinstance(t, dict)])

    def element(self) -> ET.Element:
        """The <testsuite> element."""
        suite = ET.Element("testsuite", name=f"harness targets {self.run_id}")
        counts = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0}
        if self.verdict in ("invalid", "interrupted"):
            case = ET.SubElement(suite, "testcase", name="run.validity", classname="run", time="0")
            reason = "; ".join(self.invalid_reasons) or f"run {self.verdict}"
            ET.SubElement(case, "error", message=f"run {self.verdict}: {reason}", type=self.verdict).text = reason
            counts["tests"] += 1
            counts["errors"] += 1
        for target in self.targets:
            status = str(target.get("status", "unknown"))
            explanation = str(target.get("explanation") or status)
            case = ET.SubElement(suite, "testcase", name=str(target.get("id", "?")),
                                 classname=_classname(target.get("scope")), time="0")
            counts["tests"] += 1
            if status == "fail":
                ET.SubElement(case, "failure", message=explanation, type="target-failed").text = explanation
                counts["failures"] += 1
            elif status in ("error", "unmatched"):
                ET.SubElement(case, "error", message=explanation, type=status).text = explanation
                counts["errors"] += 1
            elif status == "unknown":
                ET.SubElement(case, "skipped", message=explanation)
                counts["skipped"] += 1
            elif status == "warn":
                props = ET.SubElement(case, "properties")
                ET.SubElement(props, "property", name="status", value="warn")
                ET.SubElement(case, "system-out").text = f"WARN {target.get('id')}: {explanation}"
            elif status != "pass":
                ET.SubElement(case, "error", message=f"unexpected status {status!r}: {explanation}",
                              type="unexpected-status").text = explanation
                counts["errors"] += 1
        for key, value in counts.items():
            suite.set(key, str(value))
        suite.set("time", "0")
        if self.timestamp:
            suite.set("timestamp", self.timestamp.removesuffix("Z"))
        return suite

    def render(self, stream: TextIO) -> None:
        """Writes the XML document to ``stream``."""
        tree = ET.ElementTree(self.element())
        ET.indent(tree)
        stream.write('<?xml version="1.0" encoding="UTF-8"?>\n')
        tree.write(stream, encoding="unicode")
        stream.write("\n")
