"""The targets file (profiles/targets.toml or a user's own): parsed and checked; InputError names
the file, the line and what is wrong. Judging them is harness.measure.verdicts."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

from harness.core.targets import Target, TargetError, make_target
from harness.errors import InputError


def load_targets(path: Path) -> list[Target]:
    """Parse a targets TOML file; InputError names the file, the line and what is wrong."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise InputError(f"{path}: cannot read the targets file ({error.strerror or error})") from error
    return parse_targets(text, str(path))


def parse_targets(text: str, source: str = "<targets>") -> list[Target]:
    """Parse targets TOML text; ``source`` names it in errors (``FILE:LINE: what is wrong``)."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        found = re.search(r"at line (\d+)", str(error))
        raise InputError(f"{source}:{found.group(1) if found else 1}: invalid TOML: {error}") from error
    lines = text.splitlines()
    for key in data:
        if key != "target":
            raise InputError(f"{source}:{_key_line(lines, key, 0, len(lines))}: unknown top-level key "
                             f"{key!r}; targets are [[target]] tables")
    tables = data.get("target", [])
    if not isinstance(tables, list) or not all(isinstance(t, dict) for t in tables):
        raise InputError(f"{source}:{_key_line(lines, 'target', 0, len(lines))}: 'target' must be an array of "
                         f"tables ([[target]])")
    headers = [i for i, line in enumerate(lines) if re.match(r"^\s*\[\[\s*target\s*\]\]", line)]
    targets, seen = [], {}
    for index, table in enumerate(tables):
        start = headers[index] if index < len(headers) else 0
        end = headers[index + 1] if index + 1 < len(headers) else len(lines)
        try:
            target = make_target(table, start + 1)
        except TargetError as error:
            line = _key_line(lines, error.field, start, end) if error.field else start + 1
            name = table.get("id", f"#{index + 1}")
            raise InputError(f"{source}:{line}: target {name}: {error}") from error
        if target.id in seen:
            raise InputError(f"{source}:{start + 1}: target id {target.id!r} is already used on line {seen[target.id]}")
        seen[target.id] = start + 1
        targets.append(target)
    return targets


def _key_line(lines: list[str], key: str, start: int, end: int) -> int:
    """The 1-based line where ``key =`` is set between lines start..end, else the table's first."""
    pattern = re.compile(rf"^\s*\"?{re.escape(key)}\"?\s*=")
    for number in range(start, end):
        if pattern.match(lines[number]):
            return number + 1
    return start + 1
