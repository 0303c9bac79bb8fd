"""The project stands alone: every run-time import is a declared dependency, the default inputs
ship as package data, and nothing points outside the project (cheap static checks)."""

from __future__ import annotations

import fnmatch
import re
import tomllib
from importlib import metadata

from tests.install._install import (
    REPO,
    declared_dependencies,
    imported_modules,
    normalize,
    pyproject,
    third_party,
)


def test_every_third_party_import_is_a_declared_dependency():
    """harness/, services/, scenarios/ and loadtests/ run in an installed harness: each module
    they import (or start with ``python -m``) must come from a distribution that pyproject's
    [project].dependencies names itself, not one that only the test extra or a transitive
    dependency happens to bring."""
    from packaging.requirements import Requirement

    declared = {normalize(Requirement(r).name) for r in declared_dependencies()}
    providers = metadata.packages_distributions()
    missing = []
    for module, files in sorted(third_party(imported_modules()).items()):
        dists = {normalize(d) for d in providers.get(module, [])}
        if not dists & declared:
            missing.append(f"{module} (imported by {', '.join(sorted(set(files))[:3])}; "
                           f"provided by {', '.join(sorted(dists)) or 'nothing installed'})")
    assert not missing, "not in [project].dependencies: " + "; ".join(missing)


def test_the_import_walk_sees_the_known_run_time_imports():
    """The walk above is not vacuous: it finds imports at any depth and ``-m`` command lines."""
    modules = third_party(imported_modules())
    assert {"httpx", "locust", "gevent", "fastapi", "scipy"} <= set(modules)
    assert "gunicorn" in modules  # only ever started as `python -m gunicorn`


def _package_data_patterns() -> dict[str, list[str]]:
    return pyproject()["tool"]["setuptools"]["package-data"]


def test_shipped_inputs_are_package_data():
    """Every default input file is matched by a package-data pattern of its package, and its
    folder is a package that packages.find includes, so a wheel carries it."""
    patterns = _package_data_patterns()
    include = pyproject()["tool"]["setuptools"]["packages"]["find"]["include"]
    inputs = [*REPO.glob("profiles/*.toml"), *REPO.glob("profiles/faults/*.toml"), *REPO.glob("scenarios/*.toml")]
    assert len(inputs) >= 7 and (REPO / "profiles" / "targets.toml") in inputs
    for path in inputs:
        package, _, inner = path.relative_to(REPO).as_posix().partition("/")
        assert (REPO / package / "__init__.py").is_file(), f"{package}/ is not a package"
        assert any(fnmatch.fnmatch(package, p) for p in include), f"{package} not in packages.find include"
        assert any(fnmatch.fnmatch(inner, p) for p in patterns.get(package, [])), \
            f"{path.relative_to(REPO)}: no [tool.setuptools.package-data] pattern ships it"
    assert not (REPO / "targets.toml").exists(), "the targets live in profiles/targets.toml"


def _project_text_files():
    skip = {".venv", ".git", "reports", "build", "__pycache__", ".pytest_cache", ".ruff_cache",
            ".hypothesis", ".benchmarks"}
    for path in REPO.rglob("*"):
        parts = set(path.relative_to(REPO).parts)
        if parts & skip or any(p.endswith(".egg-info") for p in parts) or not path.is_file():
            continue
        if path.suffix in {".py", ".md", ".toml", ".txt", ".yml", ".yaml", ".cfg", ".sh", ".json", ""}:
            yield path


def test_nothing_points_into_the_brief_outside_the_project():
    """A user's clone has only the project: the targets' sources are in docs/targets.md."""
    needle = re.compile(r"shared" + r"/brief|\.\./shared|/work/" + r"shared")
    offenders = [str(p.relative_to(REPO)) for p in _project_text_files()
                 if needle.search(p.read_text(encoding="utf-8", errors="replace"))]
    assert not offenders, f"these point outside the project (cite docs/targets.md instead): {offenders}"


def test_docs_targets_lists_every_shipped_documented_target():
    """docs/targets.md has a row per documented target of profiles/targets.toml, and the
    targets file, the mix and the README cite it."""
    doc = (REPO / "docs" / "targets.md").read_text(encoding="utf-8")
    rows = set(re.findall(r"^\| ([a-z0-9-]+) \|", doc, flags=re.MULTILINE)) - {"id", "name"}
    targets = tomllib.loads((REPO / "profiles" / "targets.toml").read_text(encoding="utf-8"))["target"]
    ids = {t["id"] for t in targets}
    assert len(rows) >= 13 and rows <= ids, f"rows of docs/targets.md with no target: {rows - ids}"
    for target in targets:
        if target["id"] in rows:
            assert f"**{target['id']}**" in doc, f"docs/targets.md quotes no sentence for {target['id']}"
    for cited in ("profiles/targets.toml", "scenarios/mix.toml", "README.md"):
        assert "docs/targets.md" in (REPO / cited).read_text(encoding="utf-8"), f"{cited} does not cite docs/targets.md"
