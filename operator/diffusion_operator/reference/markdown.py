"""The little Markdown both reference pages write: table cells that survive pipes, newlines and ``<``.

GitHub splits a table row on every ``|``, even inside a code span, unless it is escaped as ``\\|``
(the docs site's hook, tools/mkdocs_hooks.py, drops that backslash again inside code spans, where
Python-Markdown would show it); a newline ends the row; and ``<org>`` in prose would be read as an
HTML tag and vanish, while inside a code span it must stay as typed.
"""

from __future__ import annotations

import html


def text(prose: str) -> str:
    """Prose (with optional `code spans`) safe inside one table cell."""
    parts = " ".join(prose.split()).split("`")
    # Even parts are prose, odd ones the insides of code spans; an unpaired backtick leaves prose as is.
    escaped = [part if index % 2 else html.escape(part, quote=False) for index, part in enumerate(parts)]
    return _pipes("`".join(escaped))


def code(literal: str) -> str:
    """``literal`` as inline code inside a table cell (a backtick inside gets a longer fence)."""
    fence, pad = ("``", " ") if "`" in literal else ("`", "")
    return _pipes(f"{fence}{pad}{' '.join(literal.split())}{pad}{fence}")


def table(header: list[str], rows: list[list[str]]) -> list[str]:
    """A GitHub-flavoured Markdown table, one line per row."""
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return lines


def _pipes(cell: str) -> str:
    return cell.replace("|", "\\|")
