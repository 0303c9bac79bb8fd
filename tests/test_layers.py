"""Layers point one way (issue 12): commands depend on flows and the library, never the other
way round. Only harness/cli.py and the command modules themselves may import harness.commands."""

import ast
from pathlib import Path

HARNESS = Path(__file__).resolve().parents[1] / "harness"


def command_imports(path: Path, text: str | None = None) -> list[str]:
    """How module ``path`` (its ``text``, read from it by default) reaches into harness.commands:
    imports of it (any form, at any depth, TYPE_CHECKING blocks included) and importlib-style
    calls naming it."""
    found = []
    for node in ast.walk(ast.parse(text if text is not None else path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found += [f"line {node.lineno}: import {a.name}" for a in node.names
                      if a.name == "harness.commands" or a.name.startswith("harness.commands.")]
        elif isinstance(node, ast.ImportFrom):
            module = node.module or ""
            if node.level:  # relative: resolve against the module's package
                package = path.relative_to(HARNESS.parent).with_suffix("").parts[:-node.level]
                module = ".".join([*package, *([module] if module else [])])
            names = [a.name for a in node.names]
            if module == "harness.commands" or module.startswith("harness.commands.") or (
                    module == "harness" and "commands" in names):
                found.append(f"line {node.lineno}: from {module} import {', '.join(names)}")
        elif isinstance(node, ast.Call):
            for arg in node.args:
                if isinstance(arg, ast.Constant) and isinstance(arg.value, str) and \
                        arg.value.startswith("harness.commands"):
                    found.append(f"line {node.lineno}: call with {arg.value!r}")
    return found


def library_modules() -> list[Path]:
    return sorted(p for p in HARNESS.rglob("*.py")
                  if p != HARNESS / "cli.py" and (HARNESS / "commands") not in p.parents)


def test_the_scan_sees_the_library_and_recognises_command_imports():
    names = {p.relative_to(HARNESS).as_posix() for p in library_modules()}
    assert {"flows/gate.py", "flows/run.py", "flows/leak.py", "core/capacity.py"} <= names
    assert "cli.py" not in names and not any(n.startswith("commands/") for n in names)
    text = ("from harness.commands.compare import x\nfrom harness import commands\nimport harness.commands.gate\n"
            "from ..commands import campaign\nimportlib.import_module('harness.commands.leak')\n")
    assert len(command_imports(HARNESS / "flows" / "example.py", text)) == 5


def test_no_library_module_imports_a_command_module():
    offenders = {p.relative_to(HARNESS.parent).as_posix(): found
                 for p in library_modules() if (found := command_imports(p))}
    assert not offenders, f"modules outside harness/cli.py and harness/commands/ import commands: {offenders}"
