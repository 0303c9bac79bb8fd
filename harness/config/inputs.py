"""Checks on a run's inputs, made before any process starts: each failure is an InputError or
RunFailedError (exit 2) whose message names the file, field or flag at fault."""

from __future__ import annotations

from pathlib import Path

import requests

from harness.config import paths
from harness.config.profile import Profile, load_profile
from harness.errors import InputError, RunFailedError

REACH_TIMEOUT_S = 3.0


def validate_profile(path: str | Path | None, default: str = paths.STEP_300_PROFILE) -> Profile:
    """Load the profile at ``path`` (resolved by harness.config.paths: from the working directory,
    else the shipped profiles; None: the shipped ``default``) and check that its traffic mix
    exists; InputError names the file and field on any problem."""
    resolved = paths.default_path(default) if path is None else paths.resolve_input(path)
    if not resolved.exists():
        shipped = sorted(p.stem for p in paths.default_path(default).parent.glob("*.toml") if p.stem != "targets")
        raise InputError(f"{path}: profile file not found (looked in {paths.invocation_dir()} and among the "
                         f"shipped profiles/: {', '.join(shipped)})")
    profile = load_profile(resolved)
    mix = profile.mix_file
    if not mix.is_file():
        raise InputError(f"{profile.path}: [profile] mix: {profile.mix!r}: no such file (looked in "
                         f"{paths.invocation_dir()}, beside the profile and in the shipped files)")
    return profile


def input_file(value: str | Path | None, default: str | None, flag: str) -> Path | None:
    """The file a flag names, resolved by harness.config.paths (from the working directory, else
    the shipped files); with no value, the shipped ``default`` (None: None). InputError naming
    the flag if there is no such file."""
    if value is None:
        return None if default is None else paths.default_path(default)
    path = paths.resolve_input(value)
    if not path.is_file():
        raise InputError(f"{flag} {value}: no such file")
    return path


def resolve_faults(value: str | None, flag: str = "--faults") -> str | None:
    """``--faults``: a preset name as given, or a fault file as an absolute path (children run
    elsewhere), found from the working directory or among the shipped ``profiles/faults/``."""
    if not value or not (value.endswith(".toml") or "/" in value):
        return value
    return str(input_file(value, None, flag).resolve())


def check_target(url: str, flag: str, health_path: str | None = "/healthz", verify: bool | str = True) -> None:
    """Fail within seconds (RunFailedError) if ``url`` does not answer HTTP; with ``health_path``,
    it must answer that path with 200. Call it only once the URL passed the safety catch
    (harness.config.allow.check_target_allowed); ``verify``: TLS verification (a CA bundle path)."""
    probe = url + (health_path or "")
    try:
        response = requests.get(probe, timeout=REACH_TIMEOUT_S, verify=verify)
    except requests.exceptions.SSLError as error:  # before ConnectionError, its base class
        against = f"the CA bundle {verify}" if isinstance(verify, str) else "this machine's trusted CAs"
        raise RunFailedError(f"{flag} {url}: TLS verification failed against {against} ({_root_cause(error)}); "
                             "verification stays on: give the platform's CA with --ca-bundle FILE") from error
    except requests.ConnectionError as error:
        raise RunFailedError(f"{flag} {url}: unreachable, nothing accepted a connection "
                             f"({_root_cause(error)}); is the service running?") from error
    except requests.Timeout as error:
        raise RunFailedError(f"{flag} {url}: unreachable, no answer to GET {probe} within "
                             f"{REACH_TIMEOUT_S:g} s") from error
    except requests.RequestException as error:
        raise RunFailedError(f"{flag} {url}: GET {probe} failed: {_root_cause(error)}") from error
    if health_path and response.status_code != 200:
        raise RunFailedError(f"{flag} {url}: GET {probe} answered HTTP {response.status_code}, "
                             "expected 200 from a healthy platform")


def _root_cause(error: BaseException) -> str:
    while error.__cause__ is not None or error.__context__ is not None:
        error = error.__cause__ or error.__context__
    return f"{type(error).__name__}: {error}"


def require_file(path: str | Path | None, flag: str) -> Path | None:
    """``path`` as a Path if it is a readable file (None stays None); InputError naming the flag."""
    if path is None:
        return None
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{flag} {path}: no such file")
    return path


def validate_targets(path: Path | None, flag: str) -> Path | None:
    """``path`` if it parses as a targets file (None stays None); else InputError naming the flag,
    the file and the line, so a bad targets file fails before the load, not after it."""
    if path is None:
        return None
    from harness.config.targets import load_targets

    try:
        load_targets(path)
    except InputError as error:
        raise InputError(f"{flag}: {error}") from error
    return path


def profile_faults(profile: Profile) -> tuple:
    """The profile's ``[[faults]]`` as harness.execute.fault_schedule FaultSpecs (InputError naming the
    file and fault); () when there are none or no fault schedule is available."""
    tables = profile.content.get("faults")
    if not tables:
        return ()
    try:
        from harness.config.faults import parse_fault_tables
    except ImportError:
        return ()
    return parse_fault_tables(list(tables), profile.path)


def require_pids(pids: list[int] | None, flag: str) -> tuple[int, ...]:
    """``pids`` as a tuple if every one is a running process; else InputError naming the flag."""
    import psutil

    for pid in pids or ():
        if not psutil.pid_exists(pid):
            raise InputError(f"{flag} {pid}: no such process")
    return tuple(pids or ())
