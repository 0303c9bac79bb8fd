"""The run directory: the contract between running and judging (docs/run-directory.md).

- ``schema``: every raw file's columns, the platform's roles, the "api" scope rule, stage windows.
- ``layout``: creating the folder, the manifest, events.jsonl, atomic writes.
- ``read``: THE loader; no module outside this package opens a raw file.
"""

from harness.rundir.layout import *  # noqa: F401,F403
from harness.rundir.layout import (  # noqa: F401
    DEFAULT_REPORTS_ROOT,
    END_REASONS,
    SCHEMA_VERSION,
    SPACE_RESERVE_BYTES,
    SPACE_RESERVE_NAME,
    TORN_LINE_EVENT,
    VERSIONED_DISTRIBUTIONS,
    EventLog,
    EventTail,
    RunDirectory,
    _parse_lines,
    collect_versions,
    ensure_writable_dir,
    git_revision,
    host_facts,
    iso_utc,
    make_run_id,
    read_jsonl,
    read_manifest,
    write_bytes_atomic,
    write_json_atomic,
    write_text_atomic,
)
