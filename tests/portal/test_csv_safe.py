"""CSV cells a spreadsheet would run as a formula are quoted (OWASP's CSV injection rule)."""

import pytest

from portal.csv_safe import csv_safe


@pytest.mark.parametrize("value", ["=1+1", "+1", "-1", "@SUM(A1)", "\tx", "\rx"])
def test_every_formula_start_is_defused(value):
    assert csv_safe(value) == "'" + value


@pytest.mark.parametrize("value", ["plain", "Payments down = bad", "", 42, None])
def test_other_cells_are_left_as_they_are(value):
    assert csv_safe(value) == value
