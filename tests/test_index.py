"""sftkit.watching.index: the compact per-sample state that replaces dicts of verdict dicts."""

from __future__ import annotations

import os
import tracemalloc

import pytest

from sftkit.watching.index import CORRECT, LIVE, STAMPED, SampleSet, VerdictIndex, parse_name


def line(name, correct=True, reason="match_exact", **extra):
    return {"file": name, "is_correct": correct, "reason": reason, **extra}


@pytest.mark.parametrize(
    "name, expected",
    [
        ("12_3.jsonl", (12, 3)),
        ("0_0.jsonl", (0, 0)),
        ("007_1.jsonl", None),  # a name of its own, not 7_1.jsonl
        ("1_2.json", None),
        ("a_1.jsonl", None),
        ("1.jsonl", None),
        ("١_٢.jsonl", None),  # non-ASCII digits
    ],
)
def test_parse_name(name, expected):
    assert parse_name(name) == expected


def test_last_line_wins_and_counts_follow_live_entries():
    index = VerdictIndex()
    index.load(
        [
            line("0_0.jsonl", False, "mismatch"),
            line("0_0.jsonl", True),  # regraded: the last line wins
            line("src/multiples/1_0.jsonl", False, "no_box"),  # a path counts by its base name
            line("odd-name.jsonl", False, "unparseable", error="odd-name.jsonl:1: invalid JSON"),
            {"no": "file"},
        ]
    )
    assert len(index) == 3
    assert index.get("0_0.jsonl").correct and not index.get("1_0.jsonl").correct
    assert index.get("2_0.jsonl") is None
    assert index.counts == {"graded": 0, "correct": 0, "no_box": 0, "errors": 0}  # none live yet
    for name in ("0_0.jsonl", "1_0.jsonl", "odd-name.jsonl"):
        index.mark(name, index.get(name), live=True)
    index.mark("0_0.jsonl", index.get("0_0.jsonl"), live=True)  # twice: counted once
    assert index.counts == {"graded": 3, "correct": 1, "no_box": 1, "errors": 1}
    assert index.live_errors() == [("odd-name.jsonl", "odd-name.jsonl:1: invalid JSON")]
    # A new verdict for a live entry replaces its old one in the counts.
    index.record("0_0.jsonl", line("0_0.jsonl", False, "mismatch"))
    assert index.counts == {"graded": 3, "correct": 0, "no_box": 1, "errors": 1}
    index.mark("1_0.jsonl", index.get("1_0.jsonl"), live=False)  # its sample file is gone
    assert index.counts == {"graded": 2, "correct": 0, "no_box": 0, "errors": 1}
    assert sorted(n for n, _ in index.items()) == ["0_0.jsonl", "1_0.jsonl", "odd-name.jsonl"]


def test_staleness_by_stamp_or_by_graded_at(tmp_path):
    path = tmp_path / "0_0.jsonl"
    path.write_text("{}\n")
    st = os.stat(path)
    index = VerdictIndex()
    index.record("0_0.jsonl", line("0_0.jsonl", mtime_ns=st.st_mtime_ns, size=st.st_size))
    index.record("1_0.jsonl", line("1_0.jsonl", graded_at=st.st_mtime + 10))  # no stamp: older log
    index.record("2_0.jsonl", line("2_0.jsonl", graded_at=st.st_mtime - 10))
    assert index.get("0_0.jsonl").flags & (STAMPED | LIVE | CORRECT) == STAMPED | LIVE | CORRECT
    assert not index.is_stale("0_0.jsonl", st)
    assert not index.is_stale("1_0.jsonl", st)
    assert index.is_stale("2_0.jsonl", st)  # modified after it was graded
    path.write_text("{} \n")  # one byte more
    assert index.is_stale("0_0.jsonl", os.stat(path))
    assert not index.is_stale("9_9.jsonl", st)  # no verdict: nothing to be stale


def test_inode_is_kept_across_a_new_verdict_unless_given():
    index = VerdictIndex()
    index.record("3_1.jsonl", line("3_1.jsonl"), inode=42)
    index.record("3_1.jsonl", line("3_1.jsonl", False, "mismatch"))
    assert index.get("3_1.jsonl").inode == 42
    index.mark("3_1.jsonl", index.get("3_1.jsonl"), live=True, inode=43)
    assert index.get("3_1.jsonl").inode == 43


def test_sparse_and_huge_sample_indices_cost_only_themselves():
    index = VerdictIndex()
    index.record("5_70000.jsonl", line("5_70000.jsonl"))  # beyond DENSE_LIMIT: overflow dict
    index.record("5_3.jsonl", line("5_3.jsonl"))
    assert index.get("5_70000.jsonl").correct and index.get("5_3.jsonl").correct
    assert index.get("5_2.jsonl") is None
    stored = SampleSet(["5_70000.jsonl", "5_3.jsonl", "x.jsonl"])
    assert "5_70000.jsonl" in stored and "5_3.jsonl" in stored and "x.jsonl" in stored
    assert "5_2.jsonl" not in stored and len(stored) == 3


def test_sample_set_behaves_like_the_set_of_names():
    names = {"0_0.jsonl", "0_3.jsonl", "2_1.jsonl", "odd.jsonl"}
    stored = SampleSet(names)
    stored.add("0_3.jsonl")  # again: no change
    assert len(stored) == 4 and set(stored) == names
    assert stored.samples(0) == [0, 3] and stored.samples(7) == []
    stored.add("7_2.jsonl")
    assert "7_2.jsonl" in stored and "7_1.jsonl" not in stored and len(stored) == 5
    assert 3 not in stored


def test_twenty_thousand_verdicts_take_under_two_megabytes():
    # Measured, not timed: 20k verdicts held as dicts take ~30 MB; here a slot is 32 bytes.
    tracemalloc.start()
    index = VerdictIndex()
    for p in range(20_000 // 16):
        for s in range(16):
            name = f"{p}_{s}.jsonl"
            index.record(name, line(name, s % 2 == 0, mtime_ns=1, size=2))
    current, _ = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert index.counts["graded"] == 20_000 and index.counts["correct"] == 10_000
    assert current < 2 * 1024 * 1024, current  # about 40 bytes a sample, all overhead included


def test_mark_sets_live_and_inode_in_one_write():
    index = VerdictIndex()
    index.load([line("4_0.jsonl", True, mtime_ns=1, size=2)])
    entry = index.get("4_0.jsonl")
    index.mark("4_0.jsonl", entry, live=True, inode=7)
    assert index.get("4_0.jsonl").inode == 7 and index.counts["graded"] == 1
    index.mark("4_0.jsonl", index.get("4_0.jsonl"), live=True)  # no change, no double count
    assert index.counts["graded"] == 1 and index.get("4_0.jsonl").inode == 7
    index.mark("4_0.jsonl", index.get("4_0.jsonl"), live=False)
    assert index.counts == {"graded": 0, "correct": 0, "no_box": 0, "errors": 0}


def test_confirm_checks_inode_and_stamp_in_one_step(tmp_path):
    path = tmp_path / "6_1.jsonl"
    path.write_text("{}\n")
    st = os.stat(path)
    index = VerdictIndex()
    index.load([line("6_1.jsonl", mtime_ns=st.st_mtime_ns, size=st.st_size)])
    assert index.confirm("7_0.jsonl", st) is None  # no verdict
    assert index.confirm_inode("6_1.jsonl", st.st_ino) is False  # inode not noted yet: stat it
    assert index.confirm("6_1.jsonl", st) is True
    assert index.counts["graded"] == 1 and index.get("6_1.jsonl").inode == st.st_ino
    assert index.confirm_inode("6_1.jsonl", st.st_ino) is True
    assert index.confirm_inode("6_1.jsonl", st.st_ino + 1) is False  # replaced under its name
    path.write_text("{} \n")  # rewritten in place: same inode, new stamp
    assert index.confirm("6_1.jsonl", os.stat(path)) is False
    assert index.counts["graded"] == 0  # no longer counts until regraded
    index.record("6_70000.jsonl", line("6_70000.jsonl", mtime_ns=st.st_mtime_ns, size=st.st_size))
    assert index.confirm("6_70000.jsonl", st) is True  # the overflow dict takes the same path
