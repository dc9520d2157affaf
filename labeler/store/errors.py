"""Errors a project file can give, in words for the person who gave us the file."""


class StoreError(Exception):
    """A problem with a project file, in words for the person who gave us the file."""


class ProjectNotFoundError(StoreError):
    pass


class NotAProjectError(StoreError):
    pass


class CorruptProjectError(StoreError):
    pass


class NewerSchemaError(StoreError):
    pass


class WriteFailedError(StoreError):
    """A write could not be committed (locked, read-only, disk full...); nothing was written."""
