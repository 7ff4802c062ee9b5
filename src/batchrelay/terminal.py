"""What a person at a terminal sees from the command line: aligned tables, or JSON lines
when the output goes to a program (a pipe, a file) or ``--json`` asks for them."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, TextIO

#: A column: its heading and how to show a row's value (a short string).
Column = tuple[str, Callable[[Mapping[str, Any]], Any]]

_WIDEST = 60  # a cell longer than this is cut, with an ellipsis


def wants_table(json_flag: bool, stream: TextIO | None = None) -> bool:
    """A table for a terminal, JSON when asked or when a program reads the output."""
    out = stream if stream is not None else sys.stdout
    return not json_flag and out.isatty()


def table(rows: Iterable[Mapping[str, Any]], columns: Sequence[Column]) -> str:
    """Left-aligned columns under their headings, two spaces apart."""
    cells = [[heading for heading, _ in columns]]
    cells += [[_cell(show(row)) for _, show in columns] for row in rows]
    widths = [max(len(line[i]) for line in cells) for i in range(len(columns))]
    return "\n".join(
        "  ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True)).rstrip()
        for line in cells
    )


def _cell(value: Any) -> str:
    text = "" if value is None else " ".join(str(value).split())
    return text if len(text) <= _WIDEST else text[: _WIDEST - 1] + "…"


def print_listing(
    rows: Sequence[Mapping[str, Any]], columns: Sequence[Column], *, as_table: bool, empty: str
) -> None:
    """``rows`` as a table (``empty`` when there are none), or as JSON lines."""
    if not as_table:
        for row in rows:
            print(json.dumps(row, ensure_ascii=False))
    elif rows:
        print(table(rows, columns))
    else:
        print(empty)
