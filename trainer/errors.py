"""The trainer's one error type: a problem to report to the user in one line, without a traceback."""


class TrainerError(Exception):
    """A problem to report to the user in one line."""
