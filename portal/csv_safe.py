"""Cells of CSV exports that a spreadsheet opens: nothing in them runs as a formula.

OWASP's CSV injection rule: a cell starting with = + - @, a tab or a carriage return is read
by spreadsheets as a formula (which can fetch URLs or run commands), so it is written with a
single quote in front and shows as the text it is.
"""

from typing import Final, TypeVar, cast

FORMULA_STARTS: Final = ("=", "+", "-", "@", "\t", "\r")

Cell = TypeVar("Cell")


def csv_safe(value: Cell) -> Cell:
    """Return the cell value, text that a spreadsheet would run as a formula quoted with '.

    Anything but text (numbers, None) is returned as it is.
    """
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return cast(Cell, "'" + value)
    return value
