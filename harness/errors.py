"""Errors the CLI maps to exit codes.

Exit codes (the contract CI relies on):
0 ran and every target met; 1 a target or gate failed; 2 the run was invalid or could not run
(bad input, unreachable target, generator-bound run); 130 interrupted (SIGINT/SIGTERM), with
whatever was measured kept.
"""

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_INVALID = 2
EXIT_INTERRUPTED = 130


class HarnessError(Exception):
    """A failure the user can act on; the message names the file, field or flag at fault."""

    exit_code = EXIT_INVALID


class InputError(HarnessError):
    """Bad input: a malformed profile, targets file or flag."""


class RunFailedError(HarnessError):
    """The run could not be carried out (platform did not start, target unreachable...)."""


class Interrupted(HarnessError):
    exit_code = EXIT_INTERRUPTED
