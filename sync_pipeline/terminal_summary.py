"""A run's summary as a terminal shows it; the Markdown itself stays in the UI's metadata.

The assets write their summary as Markdown (`**cars full**: ...` and a table) because the UI
renders it. Printed as is, a terminal shows the asterisks and the `|---:|` rows. On a terminal,
`rich` renders the same Markdown (bold, a drawn table); anywhere else (a pipe, a log file, CI)
it becomes plain lines: emphasis marks dropped, each table row one line of `header value` pairs.
"""

from __future__ import annotations

import re
import sys
from typing import TextIO

from rich.console import Console
from rich.markdown import Markdown

_SEPARATOR = re.compile(r"^\|(\s*:?-+:?\s*\|)+\s*$")
_EMPHASIS = re.compile(r"\*\*(.+?)\*\*")
_CODE = re.compile(r"`([^`]*)`")


def print_markdown(markdown: str, stream: TextIO | None = None) -> None:
    """Print `markdown` rendered on a terminal, as plain lines otherwise."""
    out = stream if stream is not None else sys.stdout
    if out.isatty():
        Console(file=out, highlight=False, soft_wrap=True).print(Markdown(markdown))
    else:
        print(plain_text(markdown), file=out)


def plain_text(markdown: str) -> str:
    """The summary's Markdown as plain lines (tables as `header value, ...` per row)."""
    lines = markdown.splitlines()
    out: list[str] = []
    index = 0
    while index < len(lines):
        line = lines[index]
        is_table = (
            line.startswith("|") and index + 1 < len(lines) and _SEPARATOR.match(lines[index + 1])
        )
        if not is_table:
            out.append(_inline(line))
            index += 1
            continue
        headers = _cells(line)
        index += 2
        while index < len(lines) and lines[index].startswith("|"):
            values = _cells(lines[index])
            out.append(", ".join(f"{header} {value}" for header, value in zip(headers, values)))
            index += 1
    return "\n".join(out)


def _cells(row: str) -> list[str]:
    return [_inline(cell.strip()) for cell in row.strip().strip("|").split("|")]


def _inline(text: str) -> str:
    return _CODE.sub(r"\1", _EMPHASIS.sub(r"\1", text))
