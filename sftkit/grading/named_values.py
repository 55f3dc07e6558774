r"""A gold that names its values, and a response that boxes only the values, in the same order.

Golds are often written as the problem states its result: `|AB| = 1`, `AB=4, CD=5`,
`S_1:S_2 = 7:32`. A response that boxes `1`, `4, 5` or `7:32` gives the same answer; one that
boxes `5, 4` does not (the order names which value is which). Only plain names count (a letter
or a few, primes, subscripts, |AB|, \overline{AB}, and ratios of them), never an expression:
`x+1=3` names nothing.

Usage (normalised text, as sftkit.grading.normalize.normalize_answer leaves it):
    named_values("|AB|=1")               -> ["1"]
    named_values("AB=4,CD=5")            -> ["4", "5"]
    named_values("S_{1}:S_{2}=7:32")     -> ["7:32"]
    named_values("x+1=3")                -> None
"""

from __future__ import annotations

import re

from sftkit.grading.structure import _split_top

_NAME = r"(?:\|[A-Za-z][A-Za-z']*\||\\overline\{[A-Za-z]+\}|[A-Za-z](?:[A-Za-z']|_\{?\w+\}?)*)"
_PART = re.compile(rf"({_NAME}(?::{_NAME})*)=([^=]+)")


def named_values(gold: str) -> list[str] | None:
    """The values of a gold made only of `name=value` parts, in order; None for any other."""
    if "=" not in gold:
        return None
    values = []
    for part in _split_top(gold):
        m = _PART.fullmatch(part.strip())
        if m is None:
            return None
        values.append(m.group(2).strip())
    return values


def values_only(response: str, gold: str) -> list[tuple[str, str]] | None:
    """(response value, gold value) pairs to compare when the gold names its values and the
    response gives as many bare values (no `=`); None when the rule does not apply.

    ("4,5", "AB=4,CD=5") -> [("4", "4"), ("5", "5")];  ("AB=4", "AB=4") -> None
    """
    if "=" in response:
        return None
    values = named_values(gold)
    if values is None:
        return None
    given = _split_top(response)
    if len(given) != len(values):
        return None
    return list(zip(given, values, strict=True))


_BUILDER_IN = re.compile(r"\\\{([a-zA-Z])(?:\||\\mid(?![a-zA-Z])|:)\s*\1\\in(?![a-zA-Z])(.+)\\\}")
_MEMBER = re.compile(r"([a-zA-Z])\\in(?![a-zA-Z])(.+)")


def as_set(answer: str) -> str:
    r"""The set a membership answer names, written as a set: the set-builder and the "or" forms of
    a union of intervals (normalisation turns "or" into a comma); any other text as it is.

    r"\{x\mid x\in[1,2]\cup[3,4]\}" -> r"[1,2]\cup[3,4]";  r"x\in[1,2],x\in[3,4]" ->
    r"x\in[1,2]\cup[3,4]";  r"x\in[1,2],y\in[3,4]" -> unchanged
    """
    m = _BUILDER_IN.fullmatch(answer)
    if m:
        return m.group(2)
    parts = _split_top(answer)
    if len(parts) < 2:
        return answer
    found = [_MEMBER.fullmatch(p) for p in parts]
    if not all(found) or len({f.group(1) for f in found}) != 1:
        return answer
    sets = [f.group(2) for f in found]
    if not all(s[:1] in "([" and s[-1:] in ")]" for s in sets):
        return answer  # intervals only: "x\in\{1,2\}" lists stay as they are
    return f"{found[0].group(1)}\\in" + "\\cup".join(sets)
