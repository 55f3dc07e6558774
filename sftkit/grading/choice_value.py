r"""Multiple choice by value: a sample that boxes the right option's value, not its number.

`\boxed{\frac{4}{3}}` where option 4 is $\frac{4}{3}$ names option 4 as surely as `\boxed{④}`
does, so it is correct (`match_choice_value`) when it equals that option's value and no other
option's. One that equals another option's value picked that option: wrong (`mismatch`). An
answer that equals no option's value is left to the ordinary comparison (None here).

Pipeline order: the grader's choice step -> match_choice_value() -> the value comparison.

Usage:
    options = ("$\\frac{1}{3}$", "$\\frac{2}{3}$", "$1$", "$\\frac{4}{3}$", "$\\frac{5}{3}$")
    match_choice_value("\\frac{4}{3}", options, 4, same=check_answer)  # (True, "match_choice_value")
    match_choice_value("\\frac{2}{3}", options, 4, same=check_answer)  # (False, "mismatch")
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence

from sftkit.grading.normalize import normalize_answer
from sftkit.grading.structure import _choice, _gold_text
from sftkit.inputs.problems import find_choice_block

REASON = "match_choice_value"


def match_choice_value(
    extracted: str,
    options: Sequence[str],
    gold_choice: int,
    same: Callable[[str, str], bool],
) -> tuple[bool, str] | None:
    """(is_correct, reason) when `extracted` equals some option's value, else None.

    `same(answer, option_text)` is the grader's value comparison (check_answer): "8/6" equals
    option "$\\frac{4}{3}$" as surely as "\\frac{4}{3}" does.
    """
    if not options or not 1 <= gold_choice <= len(options):
        return None
    if _choice(normalize_answer(extracted)) is not None:
        return None  # "②" or "2" names an option by its number, never by a value equal to it
    equal = [k for k, option in enumerate(options, 1) if option.strip() and same(extracted, option)]
    if not equal:
        return None
    if equal == [gold_choice]:
        return True, REASON
    # Equal to another option's value (alone or besides the right one): that is not the answer.
    return False, "mismatch"


def prompt_options(prompt: str | None) -> tuple[str, ...]:
    r"""The option texts of a multiple-choice prompt, () for any other prompt:
    "... \begin{itemize} \item[1] $2$ \item[2] $4$ \end{itemize}" -> ("$2$", "$4$")."""
    found = find_choice_block(prompt) if isinstance(prompt, str) else None
    return found[1] if found else ()


def gold_choice(ground_truth) -> int | None:
    """The option number a gold names, as the grader reads it: 4 -> 4, "④" -> 4, "4" -> 4,
    "④ \\frac{4}{3}" -> 4; "12" or "x=2" -> None."""
    if isinstance(ground_truth, bool):
        return None
    if isinstance(ground_truth, int):
        return ground_truth if 1 <= ground_truth <= 9 else None
    gold = _gold_text(ground_truth)
    if gold is None:
        return None
    g = normalize_answer(gold)
    if re.match(r"\(?[①-⑨]", g) or re.fullmatch(r"[1-9]", g):
        return _choice(g)
    return None
