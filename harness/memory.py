"""Memory growth of the platform over a run (placeholder until the memory issue lands)."""

from __future__ import annotations

from pathlib import Path


def memory_results(run_dir: Path) -> dict | None:
    """The ``memory`` block of results.json, or None when the run has no memory samples."""
    return None
