"""Docs that cannot drift: what the README names exists.

Every `narration-desk ...` command (and its --options) the README shows is one the CLI's parser
takes, and every command the parser takes is in the README's *Commands* block; the *Settings*
table lists exactly the fields of `Settings`, with the plain defaults they have; every row of the
failure table (*Operating the workers*) and of the trust-boundaries table names test files, and
test functions, that exist; and every path in the repository it names is there.
"""

from __future__ import annotations

import argparse
import ast
import re
from functools import cache
from pathlib import Path

import pytest

from db.settings import Settings
from workers.cli import parser

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()
TEST_REFERENCE = re.compile(r"`(tests/[\w/]+\.py)(?:::(\w+))?`")


def _section(title: str) -> str:
    """The README's text from the `## title` heading to the next `## ` heading."""
    start = README.index(f"\n## {title}\n")
    end = README.find("\n## ", start + 1)
    return README[start : end if end != -1 else None]


def _table(text: str, header: str) -> list[list[str]]:
    """The rows (cells stripped) of the Markdown table whose header line starts with `header`."""
    lines = text[text.index(header) :].splitlines()
    rows = []
    for line in lines[2:]:  # past the header and the |---| line
        if not line.startswith("|"):
            break
        rows.append([cell.strip() for cell in line.strip().strip("|").split(" | ")])
    return rows


def _invocations() -> list[str]:
    """`narration-desk ...` as the README shows it: in inline code, and as lines of code blocks
    (up to the two spaces before their explanation)."""
    found = re.findall(r"`(narration-desk [^`]+)`", README)
    in_block = False
    for line in README.splitlines():
        if line.startswith("```"):
            in_block = not in_block
        elif in_block and line.startswith("narration-desk "):
            found.append(re.split(r"\s{2,}", line)[0])
    return found


def _subcommands(command: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    for action in command._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return {}


def _options(command: argparse.ArgumentParser) -> set[str]:
    return {option for action in command._actions for option in action.option_strings}


def _leaf_commands(command: argparse.ArgumentParser, prefix: str = "narration-desk") -> list[str]:
    subcommands = _subcommands(command)
    if not subcommands:
        return [prefix]
    return [leaf for name, sub in subcommands.items() for leaf in _leaf_commands(sub, f"{prefix} {name}")]


def test_the_readme_shows_commands() -> None:
    assert len(_invocations()) >= 10  # the parsing below found them, so the next tests check something


@pytest.mark.parametrize("invocation", sorted(set(_invocations())))
def test_every_command_the_readme_names_exists_with_its_options(invocation: str) -> None:
    command = parser()
    words = invocation.replace("[", " ").replace("]", " ").replace("|", " ").split()[1:]
    named: list[str] = []
    for word in words:
        subcommands = _subcommands(command)
        if not subcommands:
            break
        assert word in subcommands, f"{' '.join(['narration-desk', *named])} has no command {word!r}"
        command = subcommands[word]
        named.append(word)
    assert not _subcommands(command), f"{invocation!r} names no complete command"
    unknown = [word for word in words if word.startswith("-") and word not in _options(command)]
    assert unknown == [], f"{invocation!r}: the CLI has no option {unknown}"


def test_every_command_of_the_cli_is_in_the_commands_block() -> None:
    block = _section("Commands")
    missing = [leaf for leaf in _leaf_commands(parser()) if not re.search(rf"^{leaf}\b", block, flags=re.MULTILINE)]
    assert missing == []


def _settings_rows() -> list[list[str]]:
    return _table(_section("Settings"), "| Setting |")


def test_the_settings_table_lists_exactly_the_settings() -> None:
    named = [row[0].strip("`") for row in _settings_rows()]
    fields = [name.upper() for name in Settings.model_fields]
    assert sorted(set(named) - set(fields)) == [], "in the README, not in db/settings.py"
    assert sorted(set(fields) - set(named)) == [], "in db/settings.py, not in the README"
    assert len(named) == len(set(named)), "a setting is listed twice"


def _plain(cell: str) -> str | None:
    """A default cell that states a value (a number, true/false, a `word`), normalized; None for
    the ones that describe it ("embedded", "20 GiB", "—")."""
    value = cell.replace(",", "")
    if re.fullmatch(r"-?\d+(\.\d+)?|true|false", value):
        return value
    quoted = re.fullmatch(r"`([^`]+)`", value)
    return quoted.group(1) if quoted else None


def test_plain_defaults_in_the_settings_table_are_the_real_ones() -> None:
    checked = 0
    for name, default, *_ in _settings_rows():
        shown = _plain(default)
        field = Settings.model_fields.get(name.strip("`").lower())
        if shown is None or field is None or field.default is None:  # unset: the cell says what happens then
            continue
        real = field.default
        if isinstance(real, bool):
            assert shown == str(real).lower(), name
        elif isinstance(real, int | float):
            assert float(shown) == real, name
        else:
            assert shown == str(real), name
        checked += 1
    assert checked >= 30


@cache
def _test_functions(path: str) -> set[str]:
    tree = ast.parse((ROOT / path).read_text())
    return {
        node.name
        for node in tree.body
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.name.startswith("test_")
    }


def _references(rows: list[list[str]]) -> list[tuple[str, list[tuple[str, str]]]]:
    """Each row's first cell and the (file, function) pairs its last cell names."""
    return [(row[0], TEST_REFERENCE.findall(row[-1])) for row in rows]


def _failure_rows() -> list[list[str]]:
    return _table(_section("Operating the workers"), "| event |")


def _trust_rows() -> list[list[str]]:
    return _table(_section("Trust boundaries"), "| check |")


@pytest.mark.parametrize("rows", [_failure_rows, _trust_rows], ids=["failure table", "trust boundaries"])
def test_every_row_names_tests_that_exist(rows: object) -> None:
    assert callable(rows)
    table = rows()
    assert len(table) >= 8
    for first_cell, references in _references(table):
        assert references, f"the row {first_cell!r} names no test"
        for path, function in references:
            assert (ROOT / path).is_file(), f"{first_cell!r} names {path}, which does not exist"
            if function:
                assert function in _test_functions(path), f"{first_cell!r} names {path}::{function}, not in it"


NAMED_PATH = re.compile(r"\b((?:db|workers|dashboard|tests|bench|scripts|docs)/[\w/.-]*\w)")
"""A path in the repository as the README names it: `workers/engine/jobs.py`, `db/narrations.NarrationKind`."""


def test_every_path_the_readme_names_exists() -> None:
    """A module moved or renamed (the map of workers/) without the README following fails here."""
    named = set(NAMED_PATH.findall(README))
    assert len(named) >= 30
    missing = [
        path
        for path in sorted(named)
        if not (ROOT / path).exists() and not (ROOT / f"{path.rpartition('.')[0]}.py").is_file()
    ]
    assert not missing
