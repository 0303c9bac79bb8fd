"""The pure core does no I/O: it imports no process, network, clock, Locust or plotting module."""

import ast
import subprocess
import sys
from pathlib import Path

import pytest

CORE = Path(__file__).resolve().parents[2] / "harness" / "core"
FORBIDDEN = {"locust", "gevent", "subprocess", "matplotlib", "requests", "httpx", "socket", "psutil",
             "time", "datetime", "harness.measure.analysis", "harness.rundir"}


def _imports(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


@pytest.mark.parametrize("path", sorted(CORE.glob("*.py")), ids=lambda p: p.name)
def test_core_module_imports_nothing_impure(path):
    bad = {name for name in _imports(path) if name in FORBIDDEN or name.split(".")[0] in FORBIDDEN}
    assert not bad, f"{path.name} imports {sorted(bad)}"


def test_importing_the_core_loads_no_locust_gevent_or_matplotlib():
    modules = [f"harness.core.{p.stem}" for p in sorted(CORE.glob("*.py")) if p.stem != "__init__"]
    code = ("import sys\n" + "".join(f"import {m}\n" for m in modules)
            + "print(sorted(m for m in ('locust', 'gevent', 'matplotlib') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         cwd=CORE.parents[1])
    assert out.stdout.strip() == "[]"
