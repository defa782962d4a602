"""``monitor.report``: the CSV opens in a spreadsheet as data, never as formulas."""

from __future__ import annotations

import csv
import io

import pytest

from monitor.report import render
from tests.conftest import NOW
from tests.test_notify import view

# OWASP "CSV Injection": a cell starting with one of these is read as a formula
FORMULAS = ['=HYPERLINK("https://evil.example","x")', "+1+1", "-2+3", "@SUM(A1)", "\tx", "\rx"]


@pytest.mark.parametrize("name", FORMULAS)
def test_csv_cells_never_start_a_formula(name: str) -> None:
    text = render([view(posts=[1.0], org=name)], "csv", NOW)
    header, row = list(csv.reader(io.StringIO(text, newline="")))
    assert header[0] == "organisation"
    assert row[0] == "'" + name  # OWASP: a single quote before it makes it text
    assert not any(cell.startswith(("=", "+", "-", "@", "\t", "\r")) for cell in row)


def test_ordinary_cells_are_left_as_they_are() -> None:
    text = render([view(posts=[1.0], org="Gemeente A")], "csv", NOW)
    row = list(csv.reader(io.StringIO(text, newline="")))[1]
    assert row[:4] == ["Gemeente A", "rss", "https://a.example/rss", "below_target"]
