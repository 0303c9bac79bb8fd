"""A profile's ``[[faults]]`` tables, parsed and checked (harness.execute.fault_schedule runs them;
harness.measure.faults judges their effect). Errors name the file and the table."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from harness.errors import InputError

FAULT_TARGETS = ("shop", "gateway", "process")
PROCESS_ACTIONS = ("kill-worker", "kill-platform", "restart")
FAULT_KEYS = frozenset({"at_s", "target", "knobs", "action", "duration_s", "label"})
ADMIN_PATHS = {"shop": "/admin/faults", "gateway": "/sim/faults"}


@dataclass(frozen=True)
class FaultSpec:
    """One scheduled fault: knobs on a service, or an action on the platform's processes."""

    index: int
    at_s: float
    target: str
    knobs: Mapping[str, Any] = field(default_factory=dict)
    action: str | None = None
    duration_s: float | None = None
    label: str = ""


def parse_fault_tables(tables: Any, source: str) -> tuple[FaultSpec, ...]:
    """Validate a profile's ``[[faults]]`` (a list of dicts, or profile.Fault-like objects).

    ``source`` names the file in errors. Raises InputError naming the file, the fault's number
    and the field, e.g. ``p.toml: [[faults]] #2 action: must be one of kill-worker, ...``.
    """
    if tables is None:
        return ()
    if not isinstance(tables, list | tuple):
        raise InputError(f"{source}: faults: must be an array of tables ([[faults]]), got {type(tables).__name__}")
    specs = []
    for index, raw in enumerate(tables):
        if not isinstance(raw, Mapping):
            raw = {key: getattr(raw, key) for key in FAULT_KEYS if getattr(raw, key, None) is not None}
        where = f"{source}: [[faults]] #{index + 1}"
        unknown = sorted(set(raw) - FAULT_KEYS)
        if unknown:
            raise InputError(f"{where}: unknown key {unknown[0]!r} (known: {', '.join(sorted(FAULT_KEYS))})")
        at_s = raw.get("at_s")
        if isinstance(at_s, bool) or not isinstance(at_s, int | float) or at_s < 0:
            raise InputError(f"{where} at_s: must be a number of seconds >= 0, got {at_s!r}")
        target = raw.get("target")
        if target not in FAULT_TARGETS:
            raise InputError(f"{where} target: must be one of {', '.join(FAULT_TARGETS)}, got {target!r}")
        knobs = raw.get("knobs", {})
        action = raw.get("action")
        if not isinstance(knobs, Mapping):
            raise InputError(f"{where} knobs: must be a table of fault knobs, got {type(knobs).__name__}")
        if target == "process":
            if action not in PROCESS_ACTIONS:
                raise InputError(f"{where} action: must be one of {', '.join(PROCESS_ACTIONS)}, got {action!r}")
            if knobs:
                raise InputError(f"{where} knobs: a process fault takes an action, not knobs")
        else:
            if action is not None:
                raise InputError(f"{where} action: only target = \"process\" takes an action")
            if not knobs:
                raise InputError(f"{where} knobs: a {target} fault needs at least one knob")
        duration_s = raw.get("duration_s")
        if duration_s is not None:
            if isinstance(duration_s, bool) or not isinstance(duration_s, int | float) or duration_s <= 0:
                raise InputError(f"{where} duration_s: must be a number of seconds > 0, got {duration_s!r}")
            if target == "process":
                raise InputError(f"{where} duration_s: a process action is instantaneous")
        label = raw.get("label", "")
        if not isinstance(label, str):
            raise InputError(f"{where} label: must be a string, got {label!r}")
        specs.append(
            FaultSpec(index, float(at_s), target, dict(knobs), action,
                      float(duration_s) if duration_s is not None else None, label or _default_label(target, knobs, action))
        )
    return tuple(specs)


def _default_label(target: str, knobs: Mapping, action: str | None) -> str:
    if action:
        return action
    return f"{target}: " + ", ".join(f"{k}={v}" for k, v in flatten_knobs(knobs).items())


def flatten_knobs(knobs: Mapping, prefix: str = "") -> dict[str, Any]:
    """Nested knob tables as dotted names: ``{"notify": {"loss_rate": 0.1}}`` → ``{"notify.loss_rate": 0.1}``.

    Latency distributions (tables with a ``kind``) stay whole: they are one value.
    """
    flat: dict[str, Any] = {}
    for key, value in knobs.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping) and value and "kind" not in value:
            flat.update(flatten_knobs(value, f"{name}."))
        else:
            flat[name] = value
    return flat
