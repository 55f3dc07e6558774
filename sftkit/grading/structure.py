r"""The shape of a normalised answer: scalar, tuple, set, interval, union or matrix.

_structure("(1,2)") -> ("seq", "(", ")", ["1", "2"]); _relation_interval(r"1\leq x<3") -> "[1,3)".
Used by the comparison (sftkit.grading.compare).
"""

from __future__ import annotations

import re

from sftkit.grading.normalize import _CIRCLED
from sftkit.grading.numeric import matrix_value

_THOUSANDS = re.compile(r"[+-]?\d{1,3}(?:(?:,\d{3})+|(?: \d{3})+)(?:\.\d+)?")
_SIMPLE_LHS = re.compile(r"(?:\\[a-zA-Z]+|[a-zA-Z])(?:_\{?\w+\}?)?(?:\([a-z]\))?'*")
_JAMO_SET = re.compile(r"[ㄱ-ㅎ][ㄱ-ㅎ,와과및 ]*")


def _gold_text(gold) -> str | None:
    if gold is None or isinstance(gold, bool):
        return None
    if isinstance(gold, int):
        return str(gold)
    if isinstance(gold, float):
        if gold != gold or gold in (float("inf"), float("-inf")):
            return None
        return str(int(gold)) if gold.is_integer() and abs(gold) < 1e15 else repr(gold)
    if isinstance(gold, str):
        return gold
    return None


def _choice(s: str) -> int | None:
    """Choice number of "③", "③ \frac12", "(3)", "3" (after normalisation), else None."""
    m = re.fullmatch(r"\(?([①-⑩])\)?(.*)", s, re.S)
    if m:
        if re.search("[①-⑩]", m.group(2)):
            return None  # "③, ④": two choices is no answer
        return _CIRCLED.index(m.group(1)) + 1
    m = re.fullmatch(r"\(?([1-9])\)?(?:번)?", s)
    return int(m.group(1)) if m else None


def _split_top(s: str) -> list[str]:
    parts, depth, cur, i = [], 0, [], 0
    while i < len(s):
        ch = s[i]
        if ch == "\\" and i + 1 < len(s) and s[i + 1] in "{}":
            depth += 1 if s[i + 1] == "{" else -1
            cur.append(s[i : i + 2])
            i += 2
            continue
        if ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth -= 1
        if ch in ",;" and depth == 0:
            parts.append("".join(cur).strip())
            cur = []
        else:
            cur.append(ch)
        i += 1
    parts.append("".join(cur).strip())
    return parts


def _wraps(s: str) -> bool:
    """The bracket at s[0] closes at s[-1] (any of ( [ with any of ) ], for intervals)."""
    depth = 0
    for i, ch in enumerate(s):
        if ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth -= 1
            if depth == 0 and i != len(s) - 1:
                return False
    return depth == 0


def _wraps_set(s: str) -> bool:
    r"""The \{ at s[0:2] closes at the very end."""
    depth, i = 0, 0
    while i < len(s):
        if s.startswith("\\{", i) or s.startswith("\\}", i):
            depth += 1 if s[i + 1] == "{" else -1
            if depth == 0 and i != len(s) - 2:
                return False
            i += 2
            continue
        i += 1
    return depth == 0


def _structure(s: str):
    if _THOUSANDS.fullmatch(s):
        return ("scalar", s.replace(",", "").replace(" ", ""))
    if s.count("\\begin{") > 1 or ("\\begin{" in s and not s.startswith(("\\begin", "[", "("))):
        value = matrix_value(s)  # arithmetic on matrices: "A+B", "2A", "AB", evaluated exactly
        if value is not None:
            return ("matrix", value)
    m = re.fullmatch(r"\\begin\{([pbvBV]?matrix|array)\}(?:\{[^}]*\})?(.*)\\end\{\1\}", s, re.S)
    if m is None:  # "[\begin{array}{cc}...\end{array}]": brackets drawn around a bare array
        m = re.fullmatch(
            r"[(\[]\\begin\{(matrix|array)\}(?:\{[^}]*\})?(.*)\\end\{\1\}[)\]]", s, re.S
        )
    if m:
        rows = [r for r in re.split(r"\\\\", m.group(2)) if r.strip()]
        return ("matrix", [[c.strip() for c in r.split("&")] for r in rows])
    if _JAMO_SET.fullmatch(s) and len(re.findall("[ㄱ-ㅎ]", s)) > 1:
        return ("set", sorted(re.findall("[ㄱ-ㅎ]", s)))
    if s.startswith("\\{") and s.endswith("\\}") and _wraps_set(s):
        return ("set", [p for p in _split_top(s[2:-2])])
    if len(s) >= 2 and s[0] in "([" and s[-1] in ")]" and _wraps(s):
        items = _split_top(s[1:-1])
        if len(items) == 1:
            return _structure(items[0]) if s[0] + s[-1] == "()" else ("seq", s[0], s[-1], items)
        return ("seq", s[0], s[-1], items)
    if s.count("\\pm") == 1:
        left, right = s.split("\\pm")
        if right and not re.search(r"[=,]", s):
            return ("set", [f"{left}+{right}", f"{left}-{right}"] if left else [right, f"-{right}"])
    if "\\cup" in s:
        return ("union", [p.strip() for p in s.split("\\cup")])
    items = _split_top(s)
    if len(items) > 1:
        return ("set", items)
    return ("scalar", s)


def _assigned(items: list[str]) -> list[str] | None:
    """["x=1", "y=2"] -> ["1", "2"]; None unless every item assigns a simple variable."""
    pairs = [i.split("=") for i in items]
    if all(len(p) == 2 and _SIMPLE_LHS.fullmatch(p[0]) and p[1] for p in pairs):
        return [p[1] for p in pairs]
    return None


_IN = re.compile(r"\\in(?![a-zA-Z])")
_VAR = re.compile(r"[a-zA-Z](?:_\{?\w+\}?)?(?:\([a-z]\))?")  # x, x_1, g(x): what a relation bounds
_RELATION = re.compile(r"(<|>|\\leq(?![a-zA-Z])|\\geq(?![a-zA-Z]))")
_SET_BUILDER = re.compile(r"\\\{([a-zA-Z])(?:\||\\mid(?![a-zA-Z])|:)(.+)\\\}")


def _interval_like(s: str) -> bool:
    r"""An interval or a union of them: "[1,3)", "(-\infty,2)\cup(3,\infty)"."""
    return (s[:1] in "([" and s[-1:] in ")]" and "," in s) or "\\cup" in s


def _one_interval(s: str, var: str | None) -> str | None:
    r"""One relation in one variable as an interval: "3>x\geq1" -> "[1,3)", "x<2" -> "(-\infty,2)"."""
    parts = [p.strip() for p in _RELATION.split(s)]
    ops, values = parts[1::2], parts[0::2]
    if len(parts) == 3 and _VAR.fullmatch(values[1]) and not _VAR.fullmatch(values[0]):
        flip = {"<": ">", ">": "<", "\\leq": "\\geq", "\\geq": "\\leq"}
        ops, values = [flip[ops[0]]], values[::-1]  # "2 > x" is "x < 2"
    if len(parts) == 3:
        x, (op,), bound = values[0], ops, values[1]
        values, ops = (
            (["-\\infty", x, bound], ["<", op])
            if op in ("<", "\\leq")
            else ([bound, x, "\\infty"], [{">": "<", "\\geq": "\\leq"}[op], "<"])
        )
    if len(values) != 3 or not _VAR.fullmatch(values[1]) or var not in (None, values[1]):
        return None
    if ops[0] in (">", "\\geq") and ops[1] in (">", "\\geq"):
        values, ops = values[::-1], [{">": "<", "\\geq": "\\leq"}[o] for o in ops[::-1]]
    if not all(o in ("<", "\\leq") for o in ops) or not values[0] or not values[2]:
        return None
    left = "(" if ops[0] == "<" else "["
    right = ")" if ops[1] == "<" else "]"
    return f"{left}{values[0]},{values[2]}{right}"


def _relation_interval(s: str) -> str | None:
    r"""The interval a one-variable relation describes, else None.

    "1\leq x<3" -> "[1,3)"; "x\geq2" -> "[2,\infty)"; "\{x|x<-2\}" -> "(-\infty,-2)";
    "x<-2,x>2" -> "(-\infty,-2)\cup(2,\infty)".
    """
    var = None
    m = _SET_BUILDER.fullmatch(s)
    if m:
        var, s = m.group(1), m.group(2)
    parts = _split_top(s)
    if len(parts) > 4 or not all(_RELATION.search(p) for p in parts):
        return None
    found = [_one_interval(p, var) for p in parts]
    if any(f is None for f in found):
        return None
    return "\\cup".join(found)


def _drop_lhs(a: str, b: str) -> tuple[str, str]:
    r"""Drop a simple left-hand side unless b is an equation too: ("x\in[1,2]", "[1,2]") ->
    ("[1,2]", "[1,2]"); ("(x,y)=(2,3)", "(2,3)") -> ("(2,3)", "(2,3)")."""
    m = re.match(
        r"((?:\\[a-zA-Z]+|[a-zA-Z])(?:_\{?\w+\}?)?|\([a-z](?:,[a-z])+\))(=|\\in(?![a-zA-Z]))", a
    )
    rest = a[m.end() :] if m else ""
    if m and "=" not in b + rest and not _IN.search(b + rest):  # \infty is not \in
        return a[m.end() :], b
    return a, b


def _vector(structure) -> list[str] | None:
    """Entries of a tuple "(a, b)" or of a one-column / one-row matrix, else None."""
    if structure[0] == "seq" and structure[1:3] == ("(", ")"):
        return structure[3]
    if structure[0] == "matrix":
        rows = structure[1]
        if all(len(row) == 1 for row in rows):
            return [row[0] for row in rows]
        if len(rows) == 1:
            return rows[0]
    return None
