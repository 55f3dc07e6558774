"""The one plain-table renderer: the report, the watcher's status and the validator CLI print
their tables with it (here, not in the report, so the watcher does not import the report).

Usage:
    print("\n".join(text_table(("type", "n"), [("multiples", 3)], ("TOTAL", 3))))
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from itertools import zip_longest


def text_table(
    head: Sequence[str],
    body: Iterable[Sequence],
    total: Sequence,
    sep: str = " ",
    min_widths=(),
    names: int = 2,
) -> list[str]:
    """Lines of a plain table: the first `names` columns left-aligned, the rest right-aligned,
    a rule under the header and above the total.

    text_table(("type", "n"), [("multiples", 3)], ("TOTAL", 3)) ->
    ["type      n", "-----------", "multiples 3", "-----------", "TOTAL     3"]
    """
    cells = [[str(c) for c in row] for row in (head, *body, total)]
    widths = [max(len(r[i]) for r in cells) for i in range(len(head))]
    widths = [max(w, m) for w, m in zip_longest(widths, min_widths, fillvalue=0)]

    def pad(i: int, cell: str) -> str:
        return cell.ljust(widths[i]) if i < names else cell.rjust(widths[i])

    lines = [sep.join(pad(i, c) for i, c in enumerate(row)) for row in cells]
    rule = "-" * len(lines[0])
    return [lines[0], rule, *lines[1:-1], rule, lines[-1]]
