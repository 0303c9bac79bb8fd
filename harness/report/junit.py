"""JUnit XML: THE mapping of a status to a JUnit element, used by every JUnit file the harness
writes (``junit.xml`` of a run, ``harness compare --junit``, ``harness gate --junit``).

One testcase per judged thing (a target, a compared metric, a benchmark). Its status maps to:

============================================  =====================================================
status                                        JUnit
============================================  =====================================================
``pass``, ``equivalent``, ``improvement``     a passing testcase
``warn``                                      passes, with a ``status=warn`` property and the
                                              explanation in ``<system-out>``; ``<failure>`` when
                                              strict (``--strict``: warnings fail)
``fail``, ``regression``                      ``<failure>`` with the explanation
``unknown``, ``inconclusive``                 ``<skipped>`` with the explanation (nothing measured,
                                              or too little data to say); an inconclusive
                                              comparison that cannot exclude a regression is
                                              ``<failure>`` when strict (the caller says so)
``error``, ``unmatched``, ``invalid``,        ``<error>``: the run or the targets file is wrong,
``interrupted``                               never a pass nor a skip
anything else                                 ``<error type="unexpected-status">``
============================================  =====================================================

The element's ``type`` is the status. A run that is invalid or interrupted adds a
``run.validity`` testcase with an ``<error>``, so CI cannot read a partial run as green.
docs/ci.md shows the same table.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TextIO

PASSED = frozenset({"pass", "equivalent", "improvement"})
WARNED = frozenset({"warn"})
FAILED = frozenset({"fail", "regression"})
SKIPPED = frozenset({"unknown", "inconclusive"})
ERRORED = frozenset({"error", "unmatched", "invalid", "interrupted"})


def junit_element(status: str, *, strict: bool = False) -> str | None:
    """The child element a testcase of this status gets: None (it passes), ``failure``,
    ``skipped`` or ``error`` (see the module docstring). ``strict`` fails warnings, and
    inconclusive results whose caller asks for it."""
    status = str(status)
    if status in PASSED:
        return None
    if status in WARNED:
        return "failure" if strict else None
    if status in FAILED:
        return "failure"
    if status in SKIPPED:
        return "failure" if strict and status == "inconclusive" else "skipped"
    return "error"


def testcase(name: str, classname: str, status: str, text: str, *, strict: bool = False,
             output: bool = False) -> ET.Element:
    """One <testcase> for a judged thing of ``status``, explained by ``text``; ``output`` adds
    ``text`` as <system-out> to every case (a warn always has it)."""
    status = str(status)
    case = ET.Element("testcase", name=str(name), classname=str(classname), time="0")
    element = junit_element(status, strict=strict)
    known = status in PASSED | WARNED | FAILED | SKIPPED | ERRORED
    if element == "skipped":
        ET.SubElement(case, "skipped", message=text, type=status)
    elif element is not None:
        kind = status if known else "unexpected-status"
        message = text if known else f"unexpected status {status!r}: {text}"
        ET.SubElement(case, element, message=message, type=kind).text = text
    if status in WARNED:
        props = ET.SubElement(case, "properties")
        ET.SubElement(props, "property", name="status", value=status)
        ET.SubElement(case, "system-out").text = f"WARN {name}: {text}"
    elif output:
        ET.SubElement(case, "system-out").text = text
    return case


def _classname(scope: object) -> str:
    """JUnit classname from a target's scope: "stage:300%" → "targets.stage.300%"."""
    text = str(scope or "run").strip() or "run"
    return "targets." + text.replace(":", ".").replace(" ", "_")


def target_cases(targets: Iterable[dict], *, strict: bool = False) -> list[ET.Element]:
    """One testcase per entry of results.json ``targets`` (their status was judged already,
    with or without strict; ``strict`` here fails what is still ``warn``)."""
    cases = []
    for target in targets:
        if not isinstance(target, dict):
            continue
        status = str(target.get("status", "unknown"))
        explanation = str(target.get("explanation") or status)
        cases.append(testcase(str(target.get("id", "?")), _classname(target.get("scope")), status, explanation,
                              strict=strict))
    return cases


def validity_case(verdict: str, reasons: Iterable[str]) -> ET.Element | None:
    """The ``run.validity`` testcase (an <error>) for an invalid or interrupted run, else None."""
    if verdict not in ("invalid", "interrupted"):
        return None
    reason = "; ".join(str(r) for r in reasons) or f"run {verdict}"
    return testcase("run.validity", "run", verdict, f"run {verdict}: {reason}")


def abort_case(abort: Mapping | None) -> ET.Element | None:
    """The ``run.abort`` testcase (a <failure>) when an [abort] condition stopped the load."""
    if not abort:
        return None
    return testcase("run.abort", "run", "fail", f"run aborted: {abort.get('description') or abort.get('condition')}")


def run_cases(results: Mapping, *, strict: bool = False) -> list[ET.Element]:
    """The testcases of a judged run (results.json): ``run.validity`` when it is invalid or
    interrupted, ``run.abort`` when an [abort] condition stopped it, then one per target."""
    validity = validity_case(str(results.get("verdict", "")), results.get("invalid_reasons") or [])
    aborted = abort_case(results.get("abort"))
    head = [case for case in (validity, aborted) if case is not None]
    return head + target_cases(results.get("targets") or [], strict=strict)


def testsuite(name: str, cases: Iterable[ET.Element], *, timestamp: str = "") -> ET.Element:
    """A <testsuite> holding ``cases``, with its tests/failures/errors/skipped counts."""
    cases = list(cases)
    suite = ET.Element("testsuite", name=name)
    suite.extend(cases)
    suite.set("tests", str(len(cases)))
    for key, child in (("failures", "failure"), ("errors", "error"), ("skipped", "skipped")):
        suite.set(key, str(sum(c.find(child) is not None for c in cases)))
    suite.set("time", "0")
    if timestamp:
        suite.set("timestamp", timestamp.removesuffix("Z"))
    return suite


def document(suites: ET.Element | Mapping[str, Iterable[ET.Element]]) -> str:
    """The XML document: one <testsuite>, or <testsuites> with one suite per entry of a mapping."""
    if isinstance(suites, ET.Element):
        root = suites
    else:
        root = ET.Element("testsuites")
        root.extend(testsuite(name, cases) for name, cases in suites.items())
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


@dataclass
class JunitReport:
    """The targets of one run as a JUnit testsuite."""

    run_id: str
    timestamp: str
    verdict: str
    invalid_reasons: list[str]
    targets: list[dict]
    abort: dict | None = None  # results.json ``abort``: the [abort] condition that stopped the load

    @classmethod
    def from_results(cls, results: dict, manifest: dict) -> JunitReport:
        """Builds the suite from results.json and the manifest (for the suite's timestamp)."""
        return cls(str(results.get("run_id") or manifest.get("run_id") or "run"),
                   str(manifest.get("started_at") or ""), str(results.get("verdict", "")),
                   [str(r) for r in results.get("invalid_reasons") or []],
                   [t for t in results.get("targets") or [] if isinstance(t, dict)],
                   results.get("abort") if isinstance(results.get("abort"), dict) else None)

    def element(self) -> ET.Element:
        """The <testsuite> element."""
        cases = run_cases({"verdict": self.verdict, "invalid_reasons": self.invalid_reasons, "targets": self.targets,
                           "abort": self.abort})
        return testsuite(f"harness targets {self.run_id}", cases, timestamp=self.timestamp)

    def render(self, stream: TextIO) -> None:
        """Writes the XML document to ``stream``."""
        stream.write(document(self.element()))
