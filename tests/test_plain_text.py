"""CSV downloads neutralize formulas; Markdown escaping keeps every character (the browser test renders it)."""

from __future__ import annotations

import io
import string

import pandas as pd

from dashboard.plain import csv_text, md


def test_cells_a_spreadsheet_would_run_are_quoted_and_numbers_are_not() -> None:
    frame = pd.DataFrame(
        {
            "error": ['=HYPERLINK("https://evil.example","click")', "+1", "-2+3", "@SUM(A1)", "\tx", "plain"],
            "jobs": [1, -2, 3, 4, 5, 6],
        }
    )
    read = pd.read_csv(io.StringIO(csv_text(frame)), keep_default_na=False)
    assert list(read["error"]) == [
        '\'=HYPERLINK("https://evil.example","click")',
        "'+1",
        "'-2+3",
        "'@SUM(A1)",
        "'\tx",
        "plain",
    ]
    assert list(read["jobs"]) == [1, -2, 3, 4, 5, 6]  # a negative count is a number, not a formula


def test_escaping_keeps_the_text_and_escapes_every_markup_character() -> None:
    hostile = "# Title [link](https://evil.example) **bold** :red[alarm] $x^2$ <b>"
    escaped = md(hostile)
    assert escaped.replace("\\", "").replace("\u2060", "") == hostile  # reads the same
    assert "https://" not in escaped.replace("\\", "")  # but is no autolink (checked in a browser too)
    for mark in string.punctuation:
        assert f"\\{mark}" in md(mark)
