"""Load profiles: TOML files that say how much load to offer, in which stages, for how long.

Pure parsing and validation (no Locust, no clock). Every error is an
:class:`harness.errors.InputError` whose message names the file and the field, e.g.
``profiles/x.toml: [profile] nominal_journeys_per_s: must be > 0, got -1``.

Shape of a profile file::

    [profile]
    name = "step-300"                # required
    description = "..."
    nominal_journeys_per_s = 3.0     # required: visits (arrivals) started per second at 100%
    max_concurrent_journeys = 60     # concurrency cap: arrivals beyond it are dropped
    journey_timeout_s = 60.0         # a checkout still unresolved after this is "unresolved"
    time_scale = 1.0                 # scales protocol waits (order poll 1,2,4,...,32 s)
    seed = 1
    mix = "scenarios/mix.toml"       # from the working directory, the profile's folder or the
                                     # shipped files (harness.config.paths.resolve_mix)
    arrivals = "poisson"             # or "uniform" (evenly spaced)
    request_timeout_s = 10.0         # client-side timeout of one HTTP request
    drain_s = 30.0                   # after the last stage: wait at most this for in-flight visits

    [[stages]]
    name = "100%"                    # default: the load factor as a percentage
    load_factor = 1.0
    duration_s = 60.0
    ramp_s = 10.0                    # first seconds of the stage: labelled, left out of statistics

    [profilers]                      # optional
    memray = false                   # true: memray attached in two windows of the steady part
    memray_window_s = 60.0           # optional: each window's length (default: an eighth of the steady part, 5..60 s)
    cpu_profile_stage = "300%"

    [[faults]]                       # optional, applied by the harness (harness/execute/fault_schedule.py)
    at_s = 30.0
    target = "gateway"               # shop | gateway | process
    duration_s = 20.0                # optional: put the knobs back after this long
    label = "17% timeouts"           # optional
    knobs = { timeout_rate_before_commit = 0.085, timeout_rate_after_commit = 0.085 }
    # target = "process" takes action = "kill-worker" | "kill-platform" | "restart" instead of knobs
"""

from __future__ import annotations

import math
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

from harness.config.paths import MIX
from harness.core.abort import AbortRules, WindowRule
from harness.errors import InputError

PROFILE_KEYS = frozenset(
    {
        "name",
        "description",
        "nominal_journeys_per_s",
        "max_concurrent_journeys",
        "journey_timeout_s",
        "time_scale",
        "seed",
        "mix",
        "arrivals",
        "request_timeout_s",
        "drain_s",
        "max_requests_per_s",
    }
)
STAGE_KEYS = frozenset({"name", "load_factor", "duration_s", "ramp_s"})
PROFILER_KEYS = frozenset({"memray", "memray_window_s", "cpu_profile_stage"})
TOP_KEYS = frozenset({"profile", "stages", "profilers", "faults", "abort"})
ABORT_KEYS = frozenset({"error_ratio", "p95_ms", "health_failures"})
ABORT_WINDOW_KEYS = frozenset({"above", "for_s", "min_requests"})
ARRIVAL_KINDS = ("poisson", "uniform")


@dataclass(frozen=True)
class Stage:
    """One stage of a profile: a load factor held for ``duration_s`` (the first ``ramp_s`` ramp)."""

    name: str
    load_factor: float
    duration_s: float
    ramp_s: float = 0.0


@dataclass(frozen=True)
class StagePlan:
    """A stage placed on the run's timeline: ``start_offset_s`` seconds after t0."""

    stage: Stage
    start_offset_s: float
    journeys_per_s: float

    @property
    def end_offset_s(self) -> float:
        """Offset of the stage's end from t0, in seconds."""
        return self.start_offset_s + self.stage.duration_s


@dataclass(frozen=True)
class Profilers:
    """Which profilers the harness attaches: memray on the platform, py-spy during one stage."""

    memray: bool = False
    memray_window_s: float | None = None  # None: an eighth of the steady part, 5..60 s (harness.core.memray_windows)
    cpu_profile_stage: str | None = None


@dataclass(frozen=True)
class Profile:
    """A parsed, validated load profile."""

    name: str
    nominal_journeys_per_s: float
    stages: tuple[Stage, ...]
    description: str = ""
    max_concurrent_journeys: int = 50
    journey_timeout_s: float = 60.0
    time_scale: float = 1.0
    seed: int = 1
    mix: str = MIX
    arrivals: str = "poisson"
    request_timeout_s: float = 10.0
    drain_s: float = 30.0
    profilers: Profilers = Profilers()
    faults: tuple = ()  # harness.execute.fault_schedule.FaultSpec
    max_requests_per_s: float | None = None  # the generators' ceiling, in total across workers
    abort: AbortRules = AbortRules()  # [abort]: conditions that stop the load (harness.core.abort)
    path: str = ""
    content: Mapping[str, Any] = field(default_factory=dict, compare=False, repr=False)

    def timeline(self) -> list[StagePlan]:
        """Each stage with its start offset from t0 (seconds) and its intended journeys/s."""
        plans, offset_s = [], 0.0
        for stage in self.stages:
            plans.append(StagePlan(stage, offset_s, self.nominal_journeys_per_s * stage.load_factor))
            offset_s += stage.duration_s
        return plans

    @property
    def mix_file(self) -> Path:
        """The traffic mix file ``mix`` names: from the directory the harness was started in,
        else beside this profile, else the shipped ``scenarios/mix.toml`` (``mix`` as given if
        none has it; see harness.config.paths)."""
        from harness.config.paths import resolve_mix

        return resolve_mix(self.mix, self.path)

    @property
    def total_duration_s(self) -> float:
        """Sum of the stages' durations, in seconds (drain not included)."""
        return sum(stage.duration_s for stage in self.stages)

    def stage_at(self, offset_s: float) -> tuple[StagePlan, bool] | None:
        """The stage running ``offset_s`` seconds after t0 and whether that instant is in its ramp.

        None before t0 or after the last stage.
        """
        if offset_s < 0:
            return None
        for plan in self.timeline():
            if offset_s < plan.end_offset_s:
                return plan, offset_s - plan.start_offset_s < plan.stage.ramp_s
        return None

    def load_factor_at(self, offset_s: float) -> float:
        """Load factor at ``offset_s`` seconds after t0: ramps linearly from the previous stage's.

        0 outside the profile. The first stage ramps up from 0.
        """
        previous = 0.0
        for plan in self.timeline():
            stage = plan.stage
            if plan.start_offset_s <= offset_s < plan.end_offset_s:
                into_s = offset_s - plan.start_offset_s
                if into_s < stage.ramp_s:
                    return previous + (stage.load_factor - previous) * into_s / stage.ramp_s
                return stage.load_factor
            previous = stage.load_factor
        return 0.0

    def stages_manifest(self) -> list[dict[str, Any]]:
        """The stages as the manifest's ``stages`` list (docs/run-directory.md)."""
        return [
            {
                "name": p.stage.name,
                "load_factor": p.stage.load_factor,
                "start_offset_s": p.start_offset_s,
                "duration_s": p.stage.duration_s,
                "ramp_s": p.stage.ramp_s,
                "journeys_per_s": p.journeys_per_s,
            }
            for p in self.timeline()
        ]


def load_profile(path: str | Path) -> Profile:
    """Read and validate the profile TOML file at ``path``; raise InputError naming file and field."""
    source = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InputError(f"{source}: profile file not found") from None
    except OSError as error:
        raise InputError(f"{source}: cannot read profile: {error.strerror}") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise InputError(f"{source}: not valid TOML: {error}") from None
    return parse_profile(data, source)


def parse_profile(data: Mapping[str, Any], source: str = "<profile>") -> Profile:
    """Validate parsed TOML ``data`` (from file ``source``, used in messages) into a Profile."""
    _reject_unknown(data, TOP_KEYS, source, "")
    section = data.get("profile")
    if not isinstance(section, Mapping):
        raise InputError(f"{source}: [profile]: missing table (it needs at least name and nominal_journeys_per_s)")
    _reject_unknown(section, PROFILE_KEYS, source, "[profile] ")
    where = "[profile] "
    get = _Reader(section, source, where)
    name = get.str("name", required=True)
    if not name.strip():
        raise InputError(f"{source}: [profile] name: must not be empty")
    arrivals = get.str("arrivals", default="poisson")
    if arrivals not in ARRIVAL_KINDS:
        raise InputError(f"{source}: [profile] arrivals: must be one of {', '.join(ARRIVAL_KINDS)}, got {arrivals!r}")
    journey_timeout_s = get.number("journey_timeout_s", default=60.0, minimum=0.0, exclusive=True)
    stages = _parse_stages(data.get("stages"), source)
    profilers = _parse_profilers(data.get("profilers", {}), source, stages)
    faults = _parse_faults(data.get("faults", []), source)
    ceiling = None
    if "max_requests_per_s" in section:
        ceiling = get.number("max_requests_per_s", minimum=0.0, exclusive=True)
    abort = _parse_abort(data.get("abort", {}), source)
    return Profile(
        name=name,
        description=get.str("description", default=""),
        nominal_journeys_per_s=get.number("nominal_journeys_per_s", required=True, minimum=0.0, exclusive=True),
        max_concurrent_journeys=get.integer("max_concurrent_journeys", default=50, minimum=1),
        journey_timeout_s=journey_timeout_s,
        time_scale=get.number("time_scale", default=1.0, minimum=0.0, exclusive=True),
        seed=get.integer("seed", default=1, minimum=None),
        mix=get.str("mix", default=MIX),
        arrivals=arrivals,
        request_timeout_s=get.number("request_timeout_s", default=10.0, minimum=0.0, exclusive=True),
        drain_s=get.number("drain_s", default=30.0, minimum=0.0),
        stages=stages,
        profilers=profilers,
        faults=faults,
        max_requests_per_s=ceiling,
        abort=abort,
        path=source,
        content=MappingProxyType(dict(data)),
    )


def _parse_stages(raw: Any, source: str) -> tuple[Stage, ...]:
    if raw is None:
        raise InputError(f"{source}: [[stages]]: missing (a profile needs at least one stage)")
    if not isinstance(raw, list):
        raise InputError(f"{source}: stages: must be an array of tables ([[stages]]), got {_type(raw)}")
    if not raw:
        raise InputError(f"{source}: [[stages]]: empty (a profile needs at least one stage)")
    stages, seen = [], set()
    for index, table in enumerate(raw):
        where = f"[[stages]] #{index + 1} "
        if not isinstance(table, Mapping):
            raise InputError(f"{source}: {where.strip()}: must be a table, got {_type(table)}")
        _reject_unknown(table, STAGE_KEYS, source, where)
        get = _Reader(table, source, where)
        load_factor = get.number("load_factor", required=True, minimum=0.0)
        duration_s = get.number("duration_s", required=True, minimum=0.0, exclusive=True)
        ramp_s = get.number("ramp_s", default=0.0, minimum=0.0)
        if ramp_s >= duration_s:
            raise InputError(f"{source}: {where}ramp_s: must be shorter than duration_s ({duration_s:g}), got {ramp_s:g}")
        name = get.str("name", default=f"{round(load_factor * 100)}%")
        if not name.strip() or "/" in name or name in (".", ".."):
            raise InputError(f"{source}: {where}name: must be a non-empty file-name-safe string, got {name!r}")
        if name in seen:
            raise InputError(f"{source}: {where}name: duplicate stage name {name!r}")
        seen.add(name)
        stages.append(Stage(name=name, load_factor=load_factor, duration_s=duration_s, ramp_s=ramp_s))
    return tuple(stages)


def _parse_profilers(raw: Any, source: str, stages: tuple[Stage, ...]) -> Profilers:
    if not isinstance(raw, Mapping):
        raise InputError(f"{source}: profilers: must be a table ([profilers]), got {_type(raw)}")
    _reject_unknown(raw, PROFILER_KEYS, source, "[profilers] ")
    get = _Reader(raw, source, "[profilers] ")
    memray = get.bool("memray", default=False)
    window_s = get.number("memray_window_s", default=0.0, minimum=0.0) or None
    if window_s is not None:
        from harness.core.memray_windows import MIN_WINDOW_S
        if window_s < MIN_WINDOW_S:
            raise InputError(f"{source}: [profilers] memray_window_s: must be >= {MIN_WINDOW_S:g}, got {window_s:g}")
    stage = get.str("cpu_profile_stage", default="") or None
    if stage is not None and stage not in {s.name for s in stages}:
        names = ", ".join(s.name for s in stages)
        raise InputError(f"{source}: [profilers] cpu_profile_stage: no stage named {stage!r} (stages: {names})")
    return Profilers(memray=memray, memray_window_s=window_s, cpu_profile_stage=stage)


def _parse_abort(raw: Any, source: str) -> AbortRules:
    """``[abort]``: error_ratio/p95_ms = {above, for_s[, min_requests]}, health_failures = N."""
    if not isinstance(raw, Mapping):
        raise InputError(f"{source}: abort: must be a table ([abort]), got {_type(raw)}")
    _reject_unknown(raw, ABORT_KEYS, source, "[abort] ")
    windows = {}
    for key in ("error_ratio", "p95_ms"):
        if key not in raw:
            continue
        table = raw[key]
        where = f"[abort] {key}."
        if not isinstance(table, Mapping):
            raise InputError(f"{source}: [abort] {key}: must be a table like {{ above = 0.05, for_s = 10 }}, "
                             f"got {_type(table)} {table!r}")
        _reject_unknown(table, ABORT_WINDOW_KEYS, source, where)
        get = _Reader(table, source, where)
        above = get.number("above", required=True, minimum=0.0, exclusive=key == "p95_ms")
        if key == "error_ratio" and above >= 1.0:
            raise InputError(f"{source}: [abort] error_ratio.above: must be below 1 (a ratio), got {above!r}")
        windows[key] = WindowRule(above=above, for_s=get.number("for_s", required=True, minimum=0.0, exclusive=True),
                                  min_requests=get.integer("min_requests", default=10, minimum=1))
    health = None
    if "health_failures" in raw:
        health = _Reader(raw, source, "[abort] ").integer("health_failures", default=1, minimum=1)
    return AbortRules(error_ratio=windows.get("error_ratio"), p95_ms=windows.get("p95_ms"), health_failures=health)


def _parse_faults(raw: Any, source: str) -> tuple:
    """The ``[[faults]]`` tables as harness.execute.fault_schedule FaultSpecs: one parser for the
    profile and the schedule that applies them (errors name the file, the fault and the field)."""
    from harness.config.faults import parse_fault_tables

    if isinstance(raw, list) and any(not isinstance(table, Mapping) for table in raw):
        index = next(i for i, table in enumerate(raw) if not isinstance(table, Mapping))
        raise InputError(f"{source}: [[faults]] #{index + 1}: must be a table, got {_type(raw[index])}")
    return parse_fault_tables(raw, source)


def _reject_unknown(table: Mapping[str, Any], allowed: frozenset[str], source: str, where: str) -> None:
    unknown = sorted(set(table) - allowed)
    if unknown:
        raise InputError(
            f"{source}: {where}{unknown[0]}: unknown key (allowed: {', '.join(sorted(allowed))})"
        )


def _type(value: Any) -> str:
    return {bool: "boolean", int: "integer", float: "float", str: "string", list: "array"}.get(
        type(value), "table" if isinstance(value, Mapping) else type(value).__name__
    )


class _Reader:
    """Typed field access on one TOML table, raising InputError that names file and field."""

    def __init__(self, table: Mapping[str, Any], source: str, where: str) -> None:
        self.table, self.source, self.where = table, source, where

    def _fail(self, key: str, message: str) -> InputError:
        return InputError(f"{self.source}: {self.where}{key}: {message}")

    def _get(self, key: str, required: bool, default: Any) -> Any:
        if key not in self.table:
            if required:
                raise self._fail(key, "missing (required)")
            return default
        return self.table[key]

    def str(self, key: str, *, required: bool = False, default: str = "") -> str:
        value = self._get(key, required, default)
        if not isinstance(value, str):
            raise self._fail(key, f"must be a string, got {_type(value)} {value!r}")
        return value

    def bool(self, key: str, *, default: bool = False) -> bool:
        value = self._get(key, False, default)
        if not isinstance(value, bool):
            raise self._fail(key, f"must be true or false, got {_type(value)} {value!r}")
        return value

    def number(
        self, key: str, *, required: bool = False, default: float = 0.0, minimum: float | None, exclusive: bool = False
    ) -> float:
        value = self._get(key, required, default)
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise self._fail(key, f"must be a number, got {_type(value)} {value!r}")
        if not math.isfinite(value):
            raise self._fail(key, f"must be finite, got {value!r}")
        if minimum is not None and (value <= minimum if exclusive else value < minimum):
            raise self._fail(key, f"must be {'>' if exclusive else '>='} {minimum:g}, got {value!r}")
        return float(value)

    def integer(self, key: str, *, default: int, minimum: int | None) -> int:
        value = self._get(key, False, default)
        if isinstance(value, bool) or not isinstance(value, int):
            raise self._fail(key, f"must be an integer, got {_type(value)} {value!r}")
        if minimum is not None and value < minimum:
            raise self._fail(key, f"must be >= {minimum}, got {value!r}")
        return value
