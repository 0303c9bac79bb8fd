"""Reports rendered from a run directory alone: report.html, report.md, junit.xml, charts/*.png.

Built in the style of memray's reporters: plain data in (``rundata.load_run``), figures and
rows built from it (``figures``, ``model``, ``sections``), renderers that write only to the
stream they are handed (``HtmlReport``, ``MarkdownReport``, ``JunitReport``), and the files
opened in one place (``render.render_run``).

The public names load lazily, so importing the pure text modules (``harness.report.model``)
does not pull in matplotlib and pandas.
"""

from __future__ import annotations

import importlib
from typing import Any

__all__ = ["HtmlReport", "JunitReport", "MarkdownReport", "RunData", "load_run", "render_run"]

_HOMES = {
    "HtmlReport": "harness.report.html",
    "JunitReport": "harness.report.junit",
    "MarkdownReport": "harness.report.markdown",
    "RunData": "harness.report.rundata",
    "load_run": "harness.report.rundata",
    "render_run": "harness.report.render",
}


def __getattr__(name: str) -> Any:
    if name in _HOMES:
        return getattr(importlib.import_module(_HOMES[name]), name)
    raise AttributeError(f"module 'harness.report' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(list(globals()) + __all__)
