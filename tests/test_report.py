"""Report: per source x type figures from a hand-built output tree, written atomically."""

from __future__ import annotations

import json

import pytest

from sftkit.common.jsonl import append_jsonl
from sftkit.output.merge import merge_outputs
from sftkit.output.report import build_report, format_report, write_report

SUBJ, MULT = "subjectives", "multiples"


@pytest.fixture
def tree(tmp_path, sample_writer):
    """src_math/subjectives:
    p0: 3 samples, 2 correct (0_0 first graded wrong, then re-graded correct: last line wins)
    p1: 2 samples, both wrong            -> zero correct
    p2: 1 sample, not graded yet         -> ungraded
    p10: 1 truncated sample, correct
    src_math/multiples: p0: 1 wrong sample; p3 only failed (never stored)
    """
    w = sample_writer
    w(tmp_path, "src_math", SUBJ, 0, 0, correct=False, usage=(100, 1000))
    w(tmp_path, "src_math", SUBJ, 0, 0, correct=True, usage=(100, 1000))  # re-graded
    w(tmp_path, "src_math", SUBJ, 0, 1, correct=True, usage=(100, 1000))
    w(tmp_path, "src_math", SUBJ, 0, 2, correct=False, usage=(100, 1000))
    w(tmp_path, "src_math", SUBJ, 1, 0, correct=False, problem_id="2022-07", usage=(50, 500))
    w(tmp_path, "src_math", SUBJ, 1, 1, correct=False, problem_id="2022-07", usage=(50, 500))
    w(tmp_path, "src_math", SUBJ, 2, 0, correct=None, usage=(7, 70))
    w(tmp_path, "src_math", SUBJ, 10, 0, correct=True, truncated=True, usage=(1, 4096))
    w(tmp_path, "src_math", MULT, 0, 0, correct=False, usage=(1, 1))
    src = tmp_path / "src_math"
    # A verdict for a sample file that no longer exists is not counted.
    append_jsonl(src / f"{SUBJ}_verdicts.jsonl", {"file": "9_9.jsonl", "is_correct": True})
    failures = src / "failures.jsonl"
    # 0_2 failed once, then a rerun stored it: not a failure any more.
    append_jsonl(failures, {"generation_id": "src_math/subjectives/0_2", "type": SUBJ,
                            "problem_index": 0, "sample_index": 2, "error": "timeout"})  # fmt: skip
    for _ in range(2):  # the same sample failed in two runs: one failure
        append_jsonl(
            failures, {"type": MULT, "problem_index": 3, "sample_index": 0, "error": "503"}
        )
    append_jsonl(failures, {"generation_id": "src_math/multiples/3_1", "error": "500"})
    # A temp file left by a crash is never read.
    (src / SUBJ / ".5_0.jsonl.abc.tmp").write_text('{"half"')
    return tmp_path


def rows_by_type(report):
    return {(r["source"], r["type"]): r for r in report["rows"]}


def test_figures_per_source_and_type(tree):
    report = build_report(tree)
    subj = rows_by_type(report)[("src_math", SUBJ)]
    assert {k: subj[k] for k in (
        "problems", "samples", "graded", "ungraded", "correct", "problems_with_correct",
        "problems_zero_correct", "problems_ungraded", "failures", "truncations",
        "prompt_tokens", "completion_tokens", "unreadable",
    )} == {
        "problems": 4, "samples": 7, "graded": 6, "ungraded": 1, "correct": 3,
        "problems_with_correct": 2, "problems_zero_correct": 1, "problems_ungraded": 1,
        "failures": 0, "truncations": 1, "prompt_tokens": 408,
        "completion_tokens": 3000 + 1000 + 70 + 4096, "unreadable": 0,
    }  # fmt: skip
    assert subj["accuracy"] == 0.5  # 3 correct of 6 graded
    assert subj["mean_correct_per_problem"] == 0.75  # 3 correct over 4 problems
    mult = rows_by_type(report)[("src_math", MULT)]
    assert (mult["problems"], mult["samples"], mult["correct"], mult["failures"]) == (1, 1, 0, 2)
    assert mult["accuracy"] == 0.0 and mult["problems_zero_correct"] == 1
    assert [(r["source"], r["type"]) for r in report["rows"]] == [
        ("src_math", SUBJ),
        ("src_math", MULT),
    ]
    totals = report["totals"]
    assert (totals["samples"], totals["correct"], totals["failures"]) == (8, 3, 2)
    assert totals["accuracy"] == pytest.approx(3 / 7, abs=1e-4)


def test_zero_correct_problems_are_listed(tree):
    zero = build_report(tree)["zero_correct"]
    assert [(z["type"], z["problem_index"], z["problem_id"], z["graded"]) for z in zero] == [
        (SUBJ, 1, "2022-07", 2),
        (MULT, 0, "id-0", 1),
    ]


def test_type_with_only_failures_gets_a_row(tmp_path, sample_writer):
    sample_writer(tmp_path, "s", SUBJ, 0, 0)
    append_jsonl(tmp_path / "s" / "failures.jsonl", {"generation_id": "s/multiples/0_0"})
    append_jsonl(tmp_path / "s" / "failures.jsonl", {"error": "no id at all", "type": MULT})
    mult = rows_by_type(build_report(tmp_path))[("s", MULT)]
    assert (mult["samples"], mult["failures"], mult["accuracy"]) == (0, 2, None)


def test_damaged_files_are_counted_not_fatal(tree):
    src = tree / "src_math"
    (src / SUBJ / "3_0.jsonl").write_text("{not json\n")
    with (src / f"{SUBJ}_verdicts.jsonl").open("a") as fh:
        fh.write('{"file": "3_0.jsonl", "is_corr')  # watcher killed mid-line
    with (src / "failures.jsonl").open("a") as fh:
        fh.write("garbage\n")
    report = build_report(tree)
    subj = rows_by_type(report)[("src_math", SUBJ)]
    assert (subj["samples"], subj["unreadable"], subj["ungraded"]) == (8, 1, 2)
    warnings = "\n".join(report["warnings"])
    assert "3_0.jsonl:1: invalid JSON" in warnings
    assert "subjectives_verdicts.jsonl: 1 unreadable lines" in warnings
    assert "failures.jsonl: 1 unreadable lines" in warnings


def test_generation_state_is_shown(tree):
    state = {
        "model": "Qwen/Qwen3-8B", "n": 4, "k_correct": 2, "retry_zero": 1, "rounds_done": 1,
        "by_source_type": {
            "src_math/subjectives": {"planned": 12, "skipped_existing": 0, "skipped_k_correct": 5,
                                     "retry_samples": 4, "written": 7, "failed": 0},
            "src_math/multiples": {"planned": 8, "skipped_existing": 1, "skipped_k_correct": 0,
                                   "retry_samples": 0, "written": 1, "failed": 2},
        },
    }  # fmt: skip
    (tree / ".generation.json").write_text(json.dumps(state))
    report = build_report(tree)
    gen = report["generation"]
    assert (gen["k_correct"], gen["retry_zero"], gen["rounds_done"]) == (2, 1, 1)
    assert gen["totals"] == {"planned": 20, "skipped_existing": 1, "skipped_k_correct": 5,
                             "retry_samples": 4, "written": 8, "failed": 2}  # fmt: skip
    assert rows_by_type(report)[("src_math", SUBJ)]["generation"]["skipped_k_correct"] == 5
    text = format_report(report)
    assert "k_correct 2 (5 samples skipped)" in text
    assert "retry_zero 1 (1 rounds done, 4 retry samples)" in text
    assert "src_math/subjectives: 5 skipped by k_correct, 4 retry samples" in text


def test_no_or_bad_generation_state(tree):
    assert build_report(tree)["generation"] is None
    (tree / ".generation.json").write_text("{")
    report = build_report(tree)
    assert report["generation"] is None and ".generation.json" in report["warnings"][0]
    assert "Sampling:" not in format_report(report)


def test_printed_table(tree):
    text = format_report(build_report(tree), width=100)
    lines = text.splitlines()
    assert lines[0].split() == [
        "source", "type", "probs", "samples", "correct", "acc", ">=1", "zero", "mean", "ungraded",
        "fail", "trunc",
    ]  # fmt: skip
    subj = next(line for line in lines if line.startswith("src_math") and SUBJ in line)
    assert subj.split()[2:6] == ["4", "7", "3", "50.0%"]
    assert any(line.startswith("TOTAL") for line in lines)
    assert "Problems with zero correct: 2" in text
    assert "src_math/subjectives problem 1 (id 2022-07): 0 of 2 graded" in text


def test_write_report_is_atomic_and_matches(tree):
    report = write_report(tree)
    assert json.loads((tree / "report.json").read_text(encoding="utf-8")) == report
    assert not [p for p in tree.iterdir() if p.name.endswith(".tmp")]


def test_empty_or_missing_output(tmp_path):
    report = build_report(tmp_path / "nothing")
    assert report["rows"] == [] and report["totals"]["samples"] == 0
    assert "TOTAL" in format_report(report)


def test_sampling_controls_off_say_so(tree):
    state = {"model": "m", "n": 4, "k_correct": 0, "retry_zero": 0, "rounds_done": 0}
    (tree / ".generation.json").write_text(json.dumps(state))
    text = format_report(build_report(tree))
    assert "Sampling: model m, n 4\n  k_correct off, retry_zero off" in text


def test_printed_report_fits_a_tmux_half_pane(tree):
    """A long source name, six-digit counts and a long model name still fit 100 columns."""
    report = build_report(tree)
    row = dict(report["rows"][0], source="2024_csat_mathematics_even_and_odd_forms")
    big = {k: 123456 for k in ("problems", "samples", "correct", "ungraded", "failures")}
    report["rows"] = [dict(row, **big, truncations=99999)]
    report["totals"] = dict(report["totals"], **big, prompt_tokens=10**12)
    report["generation"] = {"model": "Qwen/Qwen3-235B-A22B-Thinking-2507-FP8", "n": 16,
                            "k_correct": 4, "retry_zero": 2, "rounds_done": 2,
                            "totals": {"skipped_k_correct": 123456, "retry_samples": 123456,
                                       "planned": 1234567, "written": 1234567, "failed": 1}}  # fmt: skip
    lines = format_report(report, width=100).splitlines()
    assert max(map(len, lines)) <= 100, max(lines, key=len)
    assert any(line.startswith("2024_csat_mathema~") for line in lines)
    # A 160-column terminal split in two: 80 columns, short names, every line within them.
    lines = format_report(report, width=80).splitlines()
    assert max(map(len, lines)) <= 80, max(lines, key=len)
    assert any(line.startswith("2024_csat_m~ subj") for line in lines)
    # Narrower than 80 is fitted to 80: the floor (the pane wraps what is left).
    assert format_report(report, width=60) == format_report(report, width=80)


def test_stray_file_is_reported_not_counted_nor_merged(tmp_path, sample_writer):
    # The generator planned 2 problems; a 999_0.jsonl dropped in by hand is no problem of the run.
    for p in (0, 1, 999):
        sample_writer(tmp_path, "src_math", SUBJ, p, 0, correct=True)
    plan = {"planned": 2, "written": 2, "problems": 2}
    state = {"model": "m", "n": 1, "by_source_type": {f"src_math/{SUBJ}": plan}}
    (tmp_path / ".generation.json").write_text(json.dumps(state))
    report = build_report(tmp_path)
    row = rows_by_type(report)[("src_math", SUBJ)]
    assert (row["problems"], row["samples"], row["correct"], row["stray"]) == (2, 2, 2, 1)
    assert any("999_0.jsonl: stray: no problem 999 in the plan" in w for w in report["warnings"])
    assert "Stray files: 1" in format_report(report)
    stats = merge_outputs(tmp_path, "messages")
    assert stats.written == 2 and any("999_0.jsonl: stray" in b for b in stats.bad_files)


def test_a_verdict_for_a_changed_file_does_not_count(tmp_path, sample_writer):
    sample_writer(tmp_path, "src_math", SUBJ, 0, 0, correct=True)
    sample_writer(tmp_path, "src_math", SUBJ, 0, 1, correct=True)
    # Rewritten after grading (same name, new content): ungraded until the watcher regrades it.
    sample_writer(tmp_path, "src_math", SUBJ, 0, 1, correct=None, content="no box, longer text")
    row = rows_by_type(build_report(tmp_path))[("src_math", SUBJ)]
    assert (row["samples"], row["graded"], row["ungraded"], row["correct"]) == (2, 1, 1, 1)
