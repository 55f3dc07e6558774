r"""Grading: extract and compare in one call, for a text or a whole sample record.

grade(r"... \boxed{③}", 3) -> Verdict(True, "③", "match_choice");
validate_item({"solution": r"\boxed{3}", "answer": 3})["is_correct"] -> True.
A multiple-choice record whose box holds the right option's value is correct too
("match_choice_value", sftkit/grading/choice_value.py): the options come from its prompt.
"""

from __future__ import annotations

from dataclasses import dataclass

from sftkit.grading.boundary import _never_raises
from sftkit.grading.choice_value import gold_choice, match_choice_value, prompt_options
from sftkit.grading.compare import _compare_with_gold, check_answer
from sftkit.grading.extract import _BOX, MAX_ANSWER_CHARS, _last_box, _last_boxes_joined
from sftkit.grading.normalize import normalize_answer
from sftkit.grading.structure import _gold_text, _structure
from sftkit.output.formats import final_text, parse


@dataclass(frozen=True)
class Verdict:
    is_correct: bool
    extracted_answer: str | None
    reason: str


_REJECTED = Verdict(False, None, "unparseable")  # what a step that raised amounts to


@_never_raises(_REJECTED)
def grade(response_text: str | None, ground_truth) -> Verdict:
    r"""Extract and check in one call; never raises. The last box is the answer; only when it is
    wrong and the gold lists k answers are the last k boxes tried together ("x=\boxed{2},
    y=\boxed{7}").

    grade(r"... \boxed{③}", 3) -> Verdict(is_correct=True, extracted_answer="③",
    reason="match_choice"); grade("the answer is 3", 3).reason -> "no_box".
    """
    return _grade(response_text, ground_truth)


def _grade(response_text: str | None, ground_truth) -> Verdict:
    extracted = _last_box(response_text)
    ok, reason = _compare_with_gold(extracted, ground_truth)
    if not ok and reason == "mismatch" and len(_BOX.findall(response_text or "")) > 1:
        # Answers split over boxes: "\boxed{(1,4)} and \boxed{(4,1)}" for a two-part gold.
        joined = _last_boxes_joined(response_text, _gold_parts(ground_truth))
        if joined is not None:
            joined_ok, joined_reason = _compare_with_gold(joined, ground_truth)
            if joined_ok:
                return Verdict(True, joined, joined_reason)
    return Verdict(ok, extracted, reason)


def _gold_parts(ground_truth) -> int:
    """How many answers a gold lists: "(1,4),(4,1)" -> 2, "x=2, y=7" -> 2, "(1, 2)" -> 2, "3" -> 1."""
    gold = _gold_text(ground_truth)
    if gold is None or len(gold) > MAX_ANSWER_CHARS:
        return 1
    kind = _structure(normalize_answer(gold))
    if kind[0] == "set":
        return len(kind[1])
    if kind[0] == "seq" and kind[1:3] == ("(", ")"):
        return len(kind[3])
    return 1


def validate_item(item: dict) -> dict:
    r"""Grade one sample record of any format (messages, sharegpt, alpaca, simple).

    {"solution": "<think>2?</think>\boxed{3}", "answer": 3} ->
    {"is_correct": True, "extracted_answer": "3", "ground_truth": 3, "reason": "match_exact"}
    """
    gold = item.get("answer") if isinstance(item, dict) else None
    verdict = _grade_record(item, gold)
    return {
        "is_correct": verdict.is_correct,
        "extracted_answer": verdict.extracted_answer,
        "ground_truth": gold,
        "reason": verdict.reason,
    }


@_never_raises(_REJECTED)
def _grade_record(item, ground_truth) -> Verdict:
    """grade() on the record's final text, reasoning removed; reading the record is inside the
    boundary too. A rejected answer to a multiple-choice prompt is tried against the options'
    values: the right option's value alone is "match_choice_value"."""
    verdict = _grade(final_text(item) if isinstance(item, dict) else None, ground_truth)
    if verdict.is_correct or verdict.reason != "mismatch" or verdict.extracted_answer is None:
        return verdict
    choice = gold_choice(ground_truth)
    options = prompt_options(_prompt(item)) if choice is not None else ()
    by_value = match_choice_value(verdict.extracted_answer, options, choice or 0, check_answer)
    if by_value is None:
        return verdict
    return Verdict(by_value[0], verdict.extracted_answer, by_value[1])


def _prompt(item: dict) -> str | None:
    """The problem text a record was asked: meta.prompt, else its user turn."""
    meta = item.get("meta")
    if isinstance(meta, dict) and isinstance(meta.get("prompt"), str):
        return meta["prompt"]
    conv = parse(item)
    return conv.prompt if conv else None
