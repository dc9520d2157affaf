"""The checks of single fields that more than one kind of row holds: whole numbers (which pandas may
hand over as floats) and the annotator's name.
"""

from __future__ import annotations

from typing import Any

from labeler.formats.row_items import RowError
from labeler.formats.strict_json import describe_json_type


def is_whole(value: Any) -> bool:
    """An int and not a bool: True is an int to Python, but not a number a row can give."""
    return isinstance(value, int) and not isinstance(value, bool)


def whole_float_as_int(value: Any) -> Any:
    """2.0 as 2: a column with gaps becomes float in pandas, so whole numbers arrive as floats."""
    return int(value) if isinstance(value, float) and value.is_integer() else value


def parse_annotator(value: Any) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise RowError(f"annotator must be text, got {describe_json_type(value)}")
    if not value.strip():
        raise RowError("the annotator name is empty")
    return value.strip()
