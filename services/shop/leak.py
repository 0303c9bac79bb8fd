"""The deliberate memory leak of the fault knob ``leak_bytes_per_request``.

The one place the shop retains memory on purpose, so a memray capture or a growth estimate
points straight here.
"""

from __future__ import annotations

_RETAINED: list[bytes] = []
_retained_bytes = 0


def retain_leaked_bytes(n_bytes: int) -> None:
    """Keep ``n_bytes`` bytes alive for the life of the process (the leak fault).

    The bytes are written (not zero pages), so they count in resident memory."""
    global _retained_bytes
    if n_bytes > 0:
        _RETAINED.append(b"\x5a" * n_bytes)
        _retained_bytes += n_bytes


def leaked_bytes() -> int:
    """Bytes retained so far by :func:`retain_leaked_bytes`."""
    return _retained_bytes
