"""The report package's public surface, and which parts stay free of plotting and files."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import harness.report

REPO = Path(__file__).resolve().parent.parent.parent


def test_public_names_are_sorted_and_importable():
    assert harness.report.__all__ == sorted(harness.report.__all__)
    for name in harness.report.__all__:
        assert getattr(harness.report, name) is not None


def test_the_text_modules_import_neither_matplotlib_nor_locust():
    # the rows of text are pure: a fresh interpreter can import them without a plotting stack
    code = ("import sys; import harness.report.model, harness.report.sections, harness.report.fmt, "
            "harness.report.junit; bad = [m for m in ('matplotlib', 'locust', 'gevent') if m in sys.modules]; "
            "print(bad); sys.exit(1 if bad else 0)")
    done = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=60,
                          env={"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin"})
    assert done.returncode == 0, done.stdout + done.stderr
