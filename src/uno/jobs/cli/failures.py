"""How a command that cannot go on says so: one line that keeps the reason.

A wrong or unreachable database, an unreadable setting or a missing secret is
the operator's to fix, and a traceback hides the one line that says what to fix.
The traceback is still shown with ``uno-jobs --debug``.
"""

from __future__ import annotations

import sys
import traceback

from uno.jobs.errors import JobsError, TaskNotFound, ValidationError
from uno.jobs.settings import masked_url

#: Exit status of a command that failed on something other than its arguments:
#: not found, refused (a transition the job's status does not allow), unreachable.
EXIT_FAILURE = 1
#: Exit status of a command given a bad value (as click's own usage errors).
EXIT_USAGE = 2


def exit_status(exc: BaseException) -> int:
    """``EXIT_USAGE`` for a value the caller got wrong, else ``EXIT_FAILURE``.

    An unknown task is "not found" (1), as an unknown job, queue or schedule is.
    """
    if isinstance(exc, ValidationError) and not isinstance(exc, TaskNotFound):
        return EXIT_USAGE
    return EXIT_FAILURE


def one_line(exc: BaseException) -> str:
    """The error as one line: its message with line breaks and runs of spaces folded."""
    text = str(exc).strip()
    if not isinstance(exc, JobsError | ValueError | OSError) or not text:
        text = f"{type(exc).__name__}: {text}" if text else type(exc).__name__
    return masked_url(" ".join(text.split()))


def report(exc: BaseException, *, debug: bool) -> int:
    """Write ``exc`` to stderr (with its traceback when ``debug``); the exit status."""
    if debug:
        traceback.print_exception(exc, file=sys.stderr)
    print(f"uno-jobs: {one_line(exc)}", file=sys.stderr)
    return exit_status(exc)
