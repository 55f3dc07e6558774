r"""Multiple choice by value: a box holding the right option's value is correct
(match_choice_value); another option's value is wrong; the option number still works."""

from __future__ import annotations

import pytest

from sftkit.grading.choice_value import gold_choice, match_choice_value, prompt_options
from validate_sft_data import check_answer, validate_item

OPTIONS = r"\begin{itemize} \item[1] $\frac{1}{3}$ \item[2] $\frac{2}{3}$ \item[3] $1$ \item[4] $\frac{4}{3}$ \item[5] $\frac{5}{3}$ \end{itemize}"  # noqa: E501
PROMPT = f"$\\log_8 16$ 의 값은? {OPTIONS} 답을 \\boxed{{}} 안에 쓰시오."
NUMS = r"\begin{itemize} \item[1] $1$ \item[2] $\frac{3}{2}$ \item[3] $2$ \end{itemize}"
SAME = r"\begin{itemize} \item[1] $2$ \item[2] $\frac{4}{2}$ \item[3] $3$ \end{itemize}"


def record(answer_text: str, gold, prompt: str = PROMPT) -> dict:
    return {
        "messages": [
            {"role": "user", "content": prompt},
            {"role": "assistant", "content": f"<think>\nlog\n</think>\n\n{answer_text}"},
        ],
        "answer": gold,
        "meta": {"prompt": prompt},
    }


@pytest.mark.parametrize(
    "gold, response, expected",
    [
        # the right option's value, in several spellings
        (4, r"따라서 \boxed{\frac{4}{3}}", (True, "match_choice_value")),
        (4, r"\boxed{\dfrac{4}{3}}", (True, "match_choice_value")),
        (4, r"\boxed{8/6}", (True, "match_choice_value")),
        ("④", r"\boxed{\frac{4}{3}}", (True, "match_choice_value")),
        # near misses: another option's value, a value that is no option
        (4, r"\boxed{\frac{2}{3}}", (False, "mismatch")),
        (4, r"\boxed{\frac{7}{3}}", (False, "mismatch")),
        # the number and the circled mark keep their own verdicts
        (4, r"\boxed{④}", (True, "match_choice")),
        (4, r"\boxed{④ \frac{4}{3}}", (True, "match_choice")),
        (4, r"\boxed{③}", (False, "mismatch")),
        (4, "no box at all", (False, "no_box")),
    ],
)
def test_mc_by_value(gold, response, expected):
    verdict = validate_item(record(response, gold))
    assert (verdict["is_correct"], verdict["reason"]) == expected
    assert set(verdict) == {"is_correct", "extracted_answer", "ground_truth", "reason"}


@pytest.mark.parametrize(
    "gold, response, prompt, expected",
    [
        # A mark is a number even where it equals an option's value: ② is not option 3's "2".
        (3, r"\boxed{②}", NUMS, (False, "mismatch")),
        (3, r"\boxed{2}", NUMS, (False, "mismatch")),  # a bare digit too
        (2, r"\boxed{1.5}", NUMS, (True, "match_choice_value")),
        # Two options share the value: it names neither for sure.
        (1, r"\boxed{2}", SAME, (False, "mismatch")),
        # Without a choice block the value is just a wrong answer.
        (4, r"\boxed{\frac{4}{3}}", "What is log_8 16?", (False, "mismatch")),
        # A non-choice gold: the block is ignored.
        ("4/3", r"\boxed{\frac{4}{3}}", PROMPT, (True, "match_numeric")),
    ],
)
def test_mc_by_value_needs_one_option(gold, response, prompt, expected):
    verdict = validate_item(record(response, gold, prompt))
    assert (verdict["is_correct"], verdict["reason"][: len(expected[1])]) == expected


def test_the_prompt_comes_from_the_user_turn_without_meta():
    item = record(r"\boxed{\frac{4}{3}}", 4)
    del item["meta"]
    assert validate_item(item)["reason"] == "match_choice_value"


@pytest.mark.parametrize(
    "gold, expected",
    [(4, 4), ("④", 4), ("4", 4), ("④ \\frac{4}{3}", 4), ("12", None), ("x=2", None),
     (True, None), (None, None)],
)  # fmt: skip
def test_gold_choice(gold, expected):
    assert gold_choice(gold) == expected


def test_match_choice_value_direct():
    options = prompt_options(PROMPT)
    assert len(options) == 5
    assert match_choice_value(r"\frac{4}{3}", options, 4, check_answer) == (
        True,
        "match_choice_value",
    )
    assert match_choice_value(r"\frac{2}{3}", options, 4, check_answer) == (False, "mismatch")
    assert match_choice_value("7", options, 4, check_answer) is None


@pytest.mark.e2e
def test_end_to_end_the_stand_ins_correct_replies_are_never_rejected():
    """Every reply the stand-in composes as correct for a bundled multiple-choice problem,
    by number or by the option's value, is graded correct on its record; every wrong one is
    rejected. Before MC by value, the value replies were false rejects."""
    import random
    from pathlib import Path

    from sftkit.demo.mock_model import MockConfig, MockModel, compose

    data = Path(__file__).resolve().parents[1] / "data"
    model = MockModel(MockConfig(data_dir=str(data), p_no_box=0.0))
    rng = random.Random(7)
    reasons, false_rejects, false_accepts = {}, [], []
    for entry in model.book.entries:
        if entry.version.type != "multiples" or entry.version.problem.choices is None:
            continue
        for _ in range(40):
            reply = compose(entry, model.cfg, rng, think=False)
            verdict = validate_item(record(reply.content, entry.version.gold, entry.version.body))
            reasons[verdict["reason"]] = reasons.get(verdict["reason"], 0) + 1
            if reply.outcome == "correct" and not verdict["is_correct"]:
                false_rejects.append((entry.version.problem.id, reply.content[-60:]))
            if reply.outcome == "wrong" and verdict["is_correct"]:
                false_accepts.append((entry.version.problem.id, reply.content[-60:]))
    assert false_rejects == [] and false_accepts == []
    assert reasons.get("match_choice_value", 0) > 20  # the stand-in answers by value too
