"""Suspicious golds: samples that agree on one rejected answer flag their problem; samples that
merely disagree do not. Verdicts are made by the real grader, as the watcher makes them."""

from __future__ import annotations

import json

import pytest

from sftkit.common.jsonl import append_jsonl
from sftkit.output.gold_audit import audit_output, majority
from sftkit.output.report import build_report, format_report, write_report
from validate_sft_data import validate_item

SUBJ = "subjectives"


def graded_problem(out, sample_writer, p: int, gold, boxed: list[str], type_: str = SUBJ):
    """One problem version whose samples answer \\boxed{<each of boxed>}, graded like the watcher."""
    for s, body in enumerate(boxed):
        record = sample_writer(
            out, "src_math", type_, p, s, correct=None, answer=gold,
            content=f"so the answer is \\boxed{{{body}}}",
        )  # fmt: skip
        verdict = validate_item(record)
        append_jsonl(
            out / "src_math" / f"{type_}_verdicts.jsonl",
            {"file": f"{p}_{s}.jsonl", "problem_index": p, "sample_index": s, **verdict},
        )


def test_wrong_gold_is_flagged_and_reported(tmp_path, sample_writer):
    # Problem 0: the gold says 1/3, but 5 of 6 samples say one half in three spellings.
    graded_problem(tmp_path, sample_writer, 0, r"\frac{1}{3}",
                   [r"\frac12", "0.5", r"\dfrac{1}{2}", "1/2", r"\frac{2}{4}", "7"])  # fmt: skip
    # Problem 1: the gold is right and most samples find it.
    graded_problem(tmp_path, sample_writer, 1, 12, ["12", "12", "12", "13", "12"])
    report = write_report(tmp_path)
    flagged = report["suspicious_golds"]
    assert [(f["problem_index"], f["gold"], f["majority_count"], f["graded"]) for f in flagged] == [
        (0, r"\frac{1}{3}", 5, 6)
    ]
    assert flagged[0]["majority_answer"] in {r"\frac12", "0.5", r"\dfrac{1}{2}", "1/2"}
    assert flagged[0]["problem_id"] == "id-0" and flagged[0]["correct"] == 0
    saved = json.loads((tmp_path / "report.json").read_text(encoding="utf-8"))
    assert saved["suspicious_golds"] == flagged
    text = format_report(report)
    assert "Suspicious golds (samples agree on another answer): 1" in text
    assert "src_math/subjectives problem 0 (id id-0): gold \\frac{1}{3}, 5 of 6 graded say" in text


def test_samples_that_merely_disagree_are_not_flagged(tmp_path, sample_writer):
    # All wrong, but no answer is given by 75 % of the samples: the model is lost, not the gold.
    graded_problem(tmp_path, sample_writer, 0, 3, ["4", "5", "4", "6", "4", "7", "4", "8"])
    # Agreement on a wrong answer, but only 3 samples: below the minimum.
    graded_problem(tmp_path, sample_writer, 1, 3, ["4", "4", "4"])
    # 4 samples agree on 2, but they are 4 of 8: too small a share.
    graded_problem(tmp_path, sample_writer, 2, 3, ["2", "2", "2", "2", "5", "6", "7", "8"])
    # Samples agree on the gold in other spellings: they are correct, nothing is suspicious.
    graded_problem(tmp_path, sample_writer, 3, "0.5", [r"\frac12", "1/2", "0.50", r"\frac{2}{4}"])
    report = build_report(tmp_path)
    assert report["suspicious_golds"] == []
    assert "Suspicious golds" not in format_report(report)


def test_thresholds_are_settable(tmp_path, sample_writer):
    graded_problem(tmp_path, sample_writer, 0, 3, ["4", "4", "4"])
    graded_problem(tmp_path, sample_writer, 1, 3, ["2", "2", "2", "2", "5", "6", "7", "8"])
    assert audit_output(tmp_path) == []
    assert [f["problem_index"] for f in audit_output(tmp_path, min_samples=3)] == [0]
    flagged = build_report(tmp_path, gold_min_samples=4, gold_share=0.5)["suspicious_golds"]
    assert [(f["problem_index"], f["majority_answer"], f["majority_count"]) for f in flagged] == [
        (1, "2", 4)
    ]


def test_no_box_samples_count_as_graded_but_never_agree(tmp_path, sample_writer):
    for s in range(4):  # four samples without an answer, one wrong: no majority answer
        sample_writer(tmp_path, "src_math", SUBJ, 0, s, correct=None, content="I give up")
        append_jsonl(
            tmp_path / "src_math" / f"{SUBJ}_verdicts.jsonl",
            {"file": f"0_{s}.jsonl", "problem_index": 0, "is_correct": False,
             "extracted_answer": None, "ground_truth": 3, "reason": "no_box"},
        )  # fmt: skip
    assert audit_output(tmp_path) == []


@pytest.mark.parametrize(
    "answers, need, expected",
    [
        ([r"\frac12", "0.5", "1/2", "3"], 3, r"\frac12"),
        (["0.33", r"\frac13", "0.33"], 3, None),  # 0.33 is not a third either way round
        (["3", "③", "3번"], 3, "3"),  # one choice however it is written
        (["x+1", "1+x", "x-1", "x+1"], 3, "x+1"),
        (["1", "2", "3", "4"], 2, None),
        ([None, None, "5", "5"], 3, None),
    ],
)
def test_majority_groups_by_grader_equivalence(answers, need, expected):
    found = majority(answers, need)
    assert (found[0] if found else None) == expected


def test_grouping_is_capped(monkeypatch):
    calls = []

    def same(a, b):
        calls.append((a, b))
        return False

    answers = [str(i) for i in range(200)] * 2
    assert majority(answers, 300, same) is None
    assert len(calls) <= 48


def test_a_spent_budget_leaves_answers_in_groups_of_their_own(monkeypatch):
    import sftkit.output.gold_audit as gold_audit

    monkeypatch.setattr(gold_audit, "MAX_COMPARISONS", 0)

    def never(a, b):
        raise AssertionError("no comparison budget left")

    assert majority(["7"] * 5 + ["8", "9"], 5, never) == ("7", 5)
    assert majority(["7"] * 4 + ["0.5", r"\frac12"] * 2, 5, never) is None  # never merged
