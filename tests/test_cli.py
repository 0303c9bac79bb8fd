"""The CLI surface: every command documented, and starting ``harness`` stays cheap.

Every ``harness`` invocation builds the parser, which imports every command module (the
platform's own ``python -m harness shop`` included), so command modules must defer heavy
imports (pandas, scipy, matplotlib) to ``run`` and must never import locust or gevent.
"""

import subprocess
import sys

import pytest

from harness.cli import build_parser, command_modules, main

HEAVY = ("pandas", "scipy", "matplotlib", "numpy", "locust", "gevent")


def test_building_the_parser_imports_nothing_heavy():
    code = (
        "import sys; from harness.cli import build_parser; build_parser(); "
        f"print(','.join(m for m in {HEAVY!r} if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "", f"building the parser imported: {out.stdout.strip()}"


@pytest.mark.parametrize("module", command_modules(), ids=lambda m: m.NAME)
def test_every_command_is_documented_with_an_example(module):
    assert module.HELP and module.__doc__, module.__name__
    assert "Example:" in module.__doc__, f"{module.__name__} docstring lacks an Example: block"


def test_expected_commands_exist():
    names = {m.NAME for m in command_modules()}
    assert {"shop", "campaign", "run", "worker", "check", "report"} <= names


def test_no_command_prints_help_and_exits_2(capsys):
    assert main([]) == 2
    assert "COMMAND" in capsys.readouterr().out


def test_unknown_flag_is_named(capsys):
    with pytest.raises(SystemExit) as exc:
        build_parser().parse_args(["campaign", "--no-such-flag"])
    assert exc.value.code == 2
    assert "--no-such-flag" in capsys.readouterr().err
