"""A daemon thread that writes one CSV table of the run directory while the run lasts.

The shape shared by the telemetry scrapers (harness.execute.scrape, harness.execute.remote_metrics):
the file is opened with its header written and flushed before the first row, so a run that dies
early still leaves a readable table; stopping waits a bounded time for the thread and closes the
file only once the thread is done with it.
"""

from __future__ import annotations

import csv
import threading
from pathlib import Path


class CsvThread:
    """Subclasses set ``path`` and implement ``_loop`` (writing rows with ``self._writer``, until
    ``self._stop`` is set)."""

    path: Path

    def __init__(self) -> None:
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def _start_thread(self, columns: list[str] | tuple[str, ...], name: str) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._file = self.path.open("w", newline="", encoding="utf-8")
        self._writer = csv.writer(self._file)
        self._writer.writerow(columns)
        self._file.flush()
        self._thread = threading.Thread(target=self._loop, name=name, daemon=True)
        self._thread.start()

    def _stop_thread(self, join_timeout_s: float) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=join_timeout_s)
            if not self._thread.is_alive():
                self._file.close()

    def _loop(self) -> None:  # pragma: no cover - every subclass has its own
        raise NotImplementedError
