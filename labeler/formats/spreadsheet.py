"""CSV cells a spreadsheet would run as formulas, made inert on export and restored on import.

A cell starting with one of FORMULA_STARTS is exported with a leading apostrophe (the spreadsheet
convention: shown as text, not run). So that importing what we exported gives back the very same text,
a cell that itself starts with an apostrophe gets one more; import removes one apostrophe from a cell
that starts with an apostrophe followed by a formula start or another apostrophe, and from no other.
"""

from __future__ import annotations

from typing import Any

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
_ESCAPED = (*FORMULA_STARTS, "'")


def spreadsheet_safe(cell: Any) -> Any:
    """A text cell as written to CSV: an apostrophe before a formula start (or before an apostrophe)."""
    if isinstance(cell, str) and cell.startswith(_ESCAPED):
        return "'" + cell
    return cell


def spreadsheet_text(cell: str) -> str:
    """A CSV cell as it was before spreadsheet_safe."""
    if cell.startswith("'") and cell[1:].startswith(_ESCAPED):
        return cell[1:]
    return cell
