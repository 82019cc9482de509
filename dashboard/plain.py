"""Text from the shared database, shown as text: never as Markdown, never as a formula.

Streamlit renders the body of `st.error`, `st.caption`, `st.markdown` and friends as Markdown,
with its own extensions (`:red[...]` colours, `:material/...:` icons, `$...$` LaTeX) and GitHub's
autolinks. A title, caption, username, provider name or error message may come from code we do not
control (the Django app, a customer), so `md` escapes every ASCII punctuation mark, which CommonMark
allows for each of them: what a person wrote shows as they wrote it, and cannot become a link,
a heading, a colour or a formula. GitHub's autolinks ignore those escapes (an escaped `https://`
still became a link in the browser), so an invisible WORD JOINER goes after the scheme's colon,
after `www` and after `@`: the address reads the same but is no link to click.

Spreadsheet programs treat a cell starting with `=`, `+`, `-`, `@` (or a tab or carriage return) as
a formula, so CSV downloads quote such cells (OWASP's advice).
"""

from __future__ import annotations

import re
import string

import pandas as pd

_MARKDOWN = re.compile("([" + re.escape(string.punctuation) + "])")
_AUTOLINK = re.compile(r"(:(?=//)|(?i:www)(?=\.)|@)")
_JOINER = "\u2060"
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def md(value: object) -> str:
    """`value` as a Markdown string that renders as exactly its text."""
    return _MARKDOWN.sub(r"\\\1", _AUTOLINK.sub(lambda m: m.group(0) + _JOINER, str(value)))


def _cell(value: object) -> object:
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value  # a leading apostrophe: spreadsheets show the text and evaluate nothing
    return value


def csv_text(frame: pd.DataFrame) -> str:
    """The frame as CSV, with text cells that a spreadsheet would run as a formula neutralized."""
    safe = frame.copy()
    for column in safe.columns:
        if pd.api.types.is_object_dtype(safe[column]) or pd.api.types.is_string_dtype(safe[column]):
            safe[column] = safe[column].map(_cell)
    return str(safe.to_csv(index=False))
