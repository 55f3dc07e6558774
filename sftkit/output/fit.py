"""Fit the printed report to the terminal (a tmux pane) it is shown in, 80 columns at least.

A 160-column terminal split in two gives each pane 80 columns: a report line wider than that
wraps mid-word and the table falls apart. The table's type names and source names get shorter
when the width is below WIDE, and every other line is wrapped at a word, its continuation
indented under it. report.json keeps every name whole.

Usage:
    width = report_width()                  # this terminal's columns; 100 without one; >= 80
    lines = fit_lines(lines, width)         # each line within width (a single long path may
                                            # still exceed it: it is never cut)
    TYPE_SHORT.get("subjectives") -> "subj"
"""

from __future__ import annotations

import shutil
import textwrap

MIN_WIDTH = 80  # narrower than this the report wraps anyway: 80 columns is the floor
DEFAULT_WIDTH = 100  # no terminal (a log, a pipe, summary.txt written by a detached pane)
WIDE = 90  # from here on the table has room for its full type names
TYPE_SHORT = {"subjectives": "subj", "multiples": "mult"}
SOURCE_WIDTH_NARROW = 12


def report_width(columns: int | None = None) -> int:
    """The columns to fit: `columns`, else the terminal's (COLUMNS, then stdout's size), else
    DEFAULT_WIDTH; never below MIN_WIDTH."""
    if columns is None:
        columns = shutil.get_terminal_size((DEFAULT_WIDTH, 24)).columns
    return max(MIN_WIDTH, columns)


def fit_lines(lines: list[str], width: int) -> list[str]:
    """Each line wrapped at a word to width, continuations indented two more than the line."""
    fitted = []
    for line in lines:
        if len(line) <= width:
            fitted.append(line)
            continue
        indent = " " * (len(line) - len(line.lstrip()) + 2)
        fitted.extend(
            textwrap.wrap(
                line,
                width,
                subsequent_indent=indent,
                break_long_words=False,
                break_on_hyphens=False,
            )  # fmt: skip
            or [line]
        )
    return fitted
