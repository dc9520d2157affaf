"""How `labeler` and `labeler-train` end a command: its exit status, or one line on stderr, never a traceback.

A traceback is shown only with LABELER_DEBUG=1 set (for bug reports).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable

EXIT_ERROR = 1
EXIT_INTERRUPTED = 130  # 128 + SIGINT, as a shell reports Ctrl-C
EXIT_BROKEN_PIPE = 141  # 128 + SIGPIPE, as a shell reports `yes | head`


def run_command(
    program: str,
    command: Callable[[], int],
    expected: tuple[type[Exception], ...],
    also_report: Callable[[str], None] = lambda message: None,
) -> int:
    """Run `command`; an `expected` error or an OSError is a one-line error, anything else an internal one.
    `also_report` hears each error's message too (the trainer's --events stream)."""
    try:
        return command()
    except BrokenPipeError:
        # The reader stopped reading (`labeler stats | head`): not an error; nothing more goes to it, and
        # Python's own flush at exit must not complain either.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_BROKEN_PIPE
    except expected as error:
        message = str(error)
    except OSError as error:
        message = (f"{error.filename}: " if error.filename else "") + str(error.strerror or error)
    except KeyboardInterrupt:
        print(f"{program}: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except Exception as error:
        if os.environ.get("LABELER_DEBUG"):
            raise
        message = f"internal error: {type(error).__name__}: {error}"
        also_report(message)
        print(f"{program}: {message} (run again with LABELER_DEBUG=1 to see where)", file=sys.stderr)
        return EXIT_ERROR
    also_report(message)
    print(f"{program}: error: {message}", file=sys.stderr)
    return EXIT_ERROR
