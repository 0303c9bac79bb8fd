"""Helpers for the install tests: the project's declared dependencies and their closure."""

from __future__ import annotations

import ast
import functools
import re
import sys
import tomllib
from importlib import metadata
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
#: the project's own top-level packages (what the wheel ships)
FIRST_PARTY = ("harness", "services", "scenarios", "loadtests", "profiles")
#: folders whose code runs in an installed harness (tests/ and benchmarks/ run in a checkout)
RUNTIME_DIRS = ("harness", "services", "scenarios", "loadtests")


def pyproject() -> dict:
    return tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))


def normalize(name: str) -> str:
    """A distribution name as PEP 503 compares them."""
    return re.sub(r"[-_.]+", "-", name).lower()


def declared_dependencies() -> list[str]:
    """[project].dependencies: the requirement strings, extras of the project left out."""
    return list(pyproject()["project"]["dependencies"])


@functools.cache
def imported_modules(folders: tuple[str, ...] = RUNTIME_DIRS) -> dict[str, list[str]]:
    """Every top-level module imported (absolute imports, any depth in the file) by the code in
    ``folders``, and every ``-m MODULE`` a child command line names: {module: [files]}."""
    found: dict[str, list[str]] = {}
    for folder in folders:
        for path in sorted((REPO / folder).rglob("*.py")):
            tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
            for node in ast.walk(tree):
                names: list[str] = []
                if isinstance(node, ast.Import):
                    names = [alias.name for alias in node.names]
                elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                    names = [node.module]
                elif isinstance(node, ast.List | ast.Tuple):  # [..., "-m", "gunicorn", ...]
                    items = [e.value if isinstance(e, ast.Constant) and isinstance(e.value, str) else None
                             for e in node.elts]
                    names = [b for a, b in zip(items, items[1:], strict=False) if a == "-m" and b]
                for name in names:
                    found.setdefault(name.split(".")[0], []).append(str(path.relative_to(REPO)))
    return found


def third_party(modules: dict[str, list[str]]) -> dict[str, list[str]]:
    """``modules`` less the standard library and the project's own packages."""
    return {m: files for m, files in modules.items()
            if m not in sys.stdlib_module_names and m not in FIRST_PARTY and m != "__future__"}


def requirement_closure(requirements: list[str]) -> set[str]:
    """The normalized names of the installed distributions ``requirements`` need, transitively
    (markers evaluated for this interpreter, extras followed), as this environment has them."""
    from packaging.requirements import Requirement

    seen: set[str] = set()
    todo = [(Requirement(r), frozenset(Requirement(r).extras)) for r in requirements]
    while todo:
        requirement, extras = todo.pop()
        name = normalize(requirement.name)
        key = name + "[" + ",".join(sorted(extras)) + "]"
        if key in seen:
            continue
        seen.add(key)
        try:
            dist = metadata.distribution(requirement.name)
        except metadata.PackageNotFoundError:
            continue  # reported by the caller: the closure is what is installed
        for text in dist.requires or []:
            child = Requirement(text)
            if child.marker is not None:
                envs = [{"extra": e} for e in extras] or [{"extra": ""}]
                if not any(child.marker.evaluate(env) for env in envs):
                    continue
            todo.append((child, frozenset(child.extras)))
    return {key.split("[")[0] for key in seen}


def link_distributions(names: set[str], site_packages: Path) -> list[str]:
    """Make the installed distributions ``names`` (and only their files' top-level entries: the
    packages, modules, .libs folders and .dist-info) visible in ``site_packages`` by symlinks.
    Returns the names not installed here. Files outside site-packages (scripts) are left out."""
    missing = []
    for name in sorted(names):
        try:
            dist = metadata.distribution(name)
        except metadata.PackageNotFoundError:
            missing.append(name)
            continue
        tops = {Path(str(f)).parts[0] for f in dist.files or [] if not str(f).startswith("..")}
        for top in sorted(tops):
            source = Path(str(dist.locate_file(top)))
            target = site_packages / top
            if source.exists() and not (target.exists() or target.is_symlink()):
                target.symlink_to(source, target_is_directory=source.is_dir())
    return missing
