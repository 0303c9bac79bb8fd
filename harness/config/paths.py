"""Where the harness finds its input files, the same way from any working directory.

Every default file of every command, and every relative path a user gives, is resolved here
and nowhere else. The shipped defaults live in the top-level packages installed beside
``harness/``:

    profiles/*.toml           load profiles (smoke, step-300, soak, spike, faults-300)
    profiles/faults/*.toml    fault files for ``--faults`` (cache-off)
    profiles/targets.toml     the documented targets (docs/targets.md has their sources)
    scenarios/mix.toml        the traffic mix the profiles name (``mix = "scenarios/mix.toml"``)
    loadtests/*.py            the locustfiles (shop.py, recorder.py)

In a checkout (or an editable install) these are the repository's folders; in an installed
wheel they are package data under site-packages. Either way they are found from the location
of the installed ``harness`` package, never from the working directory.

A relative path a user gives is looked up, in this order:

1. from the directory the harness was started in (:func:`invocation_dir`): the user's own
   files win;
2. for a profile's ``mix``: from the profile file's folder;
3. among the shipped files: ``profiles/smoke.toml`` is the shipped smoke profile from anywhere.

A path found nowhere comes back as given, so the error message names what the user typed.
A default (no flag given) is always the shipped file: it does not depend on the working
directory.
"""

from __future__ import annotations

import os
from importlib import resources
from pathlib import Path

#: The top-level packages whose files can be named by a path relative to the install root.
PACKAGES = ("profiles", "scenarios", "loadtests", "harness", "services")

#: Child processes run with the install root as their working directory (so a user's folder
#: never shadows the harness's own packages); this variable tells them where the user started
#: the harness, so relative paths resolve from there as they did in the parent.
INVOKED_FROM_ENV = "HARNESS_INVOKED_FROM"

# The shipped defaults, as relative paths (what help texts show and what users may type).
STEP_300_PROFILE = "profiles/step-300.toml"
SMOKE_PROFILE = "profiles/smoke.toml"
TARGETS = "profiles/targets.toml"
MIX = "scenarios/mix.toml"
SHOP_LOCUSTFILE = "loadtests/shop.py"
RECORDER_LOCUSTFILE = "loadtests/recorder.py"


def install_root() -> Path:
    """The folder holding the installed ``harness`` package and its sibling packages (the
    repository root in a checkout, site-packages in a wheel install)."""
    return Path(str(resources.files("harness"))).resolve().parent


def invocation_dir() -> Path:
    """The directory the user started the harness in: the parent's working directory, passed
    on to child processes in ``HARNESS_INVOKED_FROM``."""
    return Path(os.environ.get(INVOKED_FROM_ENV) or os.getcwd())


def shipped(relative: str | Path) -> Path | None:
    """The shipped file at ``relative`` (e.g. ``profiles/smoke.toml``), or None if there is none."""
    parts = Path(relative).parts
    if len(parts) < 2 or parts[0] not in PACKAGES:
        return None
    path = install_root().joinpath(*parts)
    return path if path.exists() else None


def default_path(relative: str) -> Path:
    """A shipped default file; raises FileNotFoundError naming it if the install lacks it."""
    path = shipped(relative)
    if path is None:
        raise FileNotFoundError(f"{relative}: a default file of the harness is missing from its "
                                f"installation ({install_root()}); reinstall the package")
    return path


def resolve_input(path: str | Path, beside: str | Path | None = None) -> Path:
    """A file or folder the user named (or a default named by its relative path): absolute as
    given; else from :func:`invocation_dir`; else from the folder ``beside``; else the shipped
    file; else ``path`` as given (so the caller's error names what the user typed)."""
    given = Path(path)
    if given.is_absolute():
        return given
    start = invocation_dir()
    if (start / given).exists():
        return given if _same_dir(start, Path.cwd()) else start / given
    if beside is not None and (Path(beside) / given).exists():
        return Path(beside) / given
    return shipped(given) or given


def resolve_mix(mix: str, profile_path: str | Path) -> Path:
    """The traffic mix file a profile names: from the invocation directory, the profile's
    folder, or the shipped ``scenarios/``; ``mix`` as given if none has it."""
    return resolve_input(mix, beside=Path(profile_path).parent)


def _same_dir(a: Path, b: Path) -> bool:
    try:
        return a.resolve() == b.resolve()
    except OSError:
        return False
