"""sftkit.output.layout: the names on disk, the one sample reader, the one verdict-log reader."""

from __future__ import annotations

import json
import os

import pytest

from sftkit.common.jsonl import append_jsonl, atomic_write_text
from sftkit.output import layout
from sftkit.output.layout import VerdictLog, read_sample, read_verdict_log
from sftkit.watching.index import VerdictIndex


def test_names_of_one_sample_and_its_neighbours(tmp_path):
    # The on-disk contract (ARCHITECTURE.md "Output layout"), spelled out once here.
    path = layout.sample_path(tmp_path, "src", "multiples", 3, 1)
    assert path == tmp_path / "src" / "multiples" / "3_1.jsonl"
    assert layout.parse_sample_name(path.name) == (3, 1)
    assert layout.parse_sample_name(".3_1.jsonl.12.0.tmp") is None
    assert layout.parse_sample_name("007_1.jsonl") is None  # one pattern: the index's
    path.parent.mkdir(parents=True)
    for name in ("3_1.jsonl", "007_1.jsonl", ".3_1.jsonl.1.tmp"):
        (path.parent / name).write_text("{}\n")
    assert layout.list_sample_files(path.parent) == ([(3, 1, "3_1.jsonl")], ["007_1.jsonl"])
    assert layout.validated_dir(path.parent) == tmp_path / "src" / "multiples_validated"
    assert layout.verdict_log(path.parent) == tmp_path / "src" / "multiples_verdicts.jsonl"
    assert layout.failures_file(tmp_path, "src") == tmp_path / "src" / "failures.jsonl"
    assert layout.stop_file(tmp_path) == tmp_path / ".watcher_stop"
    assert layout.merged_file(tmp_path, layout.ALL_NAME, "messages") == (
        tmp_path / "merged" / "sft_math_all_messages.jsonl"
    )
    assert layout.generation_id("src", "multiples", 3, 1) == "src/multiples/3_1"
    assert layout.parse_generation_id("src/multiples/3_1") == ("multiples", 3, 1)
    assert layout.step_rc(tmp_path, "merge") == tmp_path / ".merge.rc"


def test_read_verdict_log_keys_by_base_name_and_counts_bad_lines(tmp_path):
    path = tmp_path / "subjectives_verdicts.jsonl"
    append_jsonl(path, {"file": "0_0.jsonl", "is_correct": False})
    append_jsonl(path, {"file": "0_1.jsonl", "is_correct": True}, {"file": "0_0.jsonl", "x": 1})
    with path.open("a", encoding="utf-8") as fh:
        fh.write('[1]\n{"no_file": 1}\n{"file": "src/subjectives/0_3.jsonl"}\n{"file": "0_2.js')
    latest, bad = read_verdict_log(path)
    assert latest == {
        "0_0.jsonl": {"file": "0_0.jsonl", "x": 1},
        "0_1.jsonl": {"file": "0_1.jsonl", "is_correct": True},
        "0_3.jsonl": {"file": "src/subjectives/0_3.jsonl"},  # a path is keyed by its base name
    }
    assert bad == [4, 5, 7]  # not an object, no file, the torn last line
    assert read_verdict_log(tmp_path / "missing.jsonl") == ({}, [])


def test_read_verdict_index_agrees_with_the_dict_reader(tmp_path):
    # The compact reader (watcher start-up, report, gold audit) keys, orders and counts bad lines
    # as read_verdict_log does; a raw U+2028 inside a JSON string is no line break.
    path = tmp_path / "subjectives_verdicts.jsonl"
    append_jsonl(path, {"file": "0_0.jsonl", "is_correct": False, "reason": "mismatch"})
    append_jsonl(path, {"file": "0_1.jsonl", "is_correct": True, "extracted_answer": "a\u2028b"})
    append_jsonl(path, {"file": "0_0.jsonl", "is_correct": True})
    with path.open("a", encoding="utf-8") as fh:
        fh.write('\n[1]\n{"no_file": 1}\n{"file": "src/subjectives/0_3.jsonl"}\n{"file": "0_2.js')
    index, bad = layout.read_verdict_index(path)
    latest, bad_dict = read_verdict_log(path)
    assert bad == bad_dict == [5, 6, 8]
    assert sorted(name for name, _ in index.items()) == sorted(latest)
    assert index.get("0_0.jsonl").correct and index.get("0_1.jsonl").correct  # last line wins
    assert layout.read_verdict_index(tmp_path / "missing.jsonl")[1] == []


def test_verdict_log_reads_only_what_was_appended(tmp_path):
    path = tmp_path / "multiples_verdicts.jsonl"
    log = VerdictLog(path)
    assert log.refresh() == {}  # no log yet
    path.write_text(json.dumps({"file": "0_0.jsonl", "is_correct": True}) + '\n{"file": "0_1.js')
    assert set(log.refresh()) == {"0_0.jsonl"}  # the half-written line waits
    with path.open("a") as fh:
        fh.write('onl", "is_correct": true}\n[2]\n')
    assert set(log.refresh()) == {"0_0.jsonl", "0_1.jsonl"} and log.bad == [3]
    atomic_write_text(path, json.dumps({"file": "0_0.jsonl", "is_correct": False}) + "\n")
    assert log.refresh() == {"0_0.jsonl": {"file": "0_0.jsonl", "is_correct": False}}


def test_read_sample_one_reader_for_every_caller(tmp_path):
    path = tmp_path / "0_0.jsonl"
    path.write_text('{"answer": "a\u2028b"}\n', encoding="utf-8")
    assert read_sample(path) == {"answer": "a\u2028b"}  # U+2028 inside a string is no line break
    path.write_text('{"answer": 3}', encoding="utf-8")
    assert read_sample(path) == {"answer": 3}
    with pytest.raises(layout.Incomplete, match="no newline yet"):
        read_sample(path, lenient=False)
    path.write_text("", encoding="utf-8")
    with pytest.raises(layout.Incomplete, match="0_0.jsonl:1: empty file"):
        read_sample(path)


def test_validated_record_adds_the_verdict():
    record = {"messages": [], "meta": {"model": "m"}}
    verdict = {"reason": "match_exact", "extracted_answer": "3", "is_correct": True}
    assert layout.validated_record(record, verdict)["meta"] == {
        "model": "m",
        "verdict": "match_exact",
        "extracted_answer": "3",
    }
    assert record["meta"] == {"model": "m"}  # the sample itself is left as it was


@pytest.mark.parametrize(
    "stamp, expected",
    [
        ({"mtime_ns": 5_000_000_000, "size": 3}, False),  # the content that was graded
        ({"mtime_ns": 5_000_000_000, "size": 4}, True),  # rewritten: other size
        ({"mtime_ns": 6_000_000_000, "size": 3}, True),  # rewritten: same size, later mtime
        ({"graded_at": 6.0}, False),  # a line from before stamps: graded after the last write
        ({"graded_at": 4.0}, True),  # ... written again after it was graded
        ({}, False),  # nothing to compare: trusted, as before
    ],
)
def test_one_staleness_rule_for_a_verdict_line(tmp_path, stamp, expected):
    """index.stale() is the one rule: is_stale() and confirm() (the start-up fast path) agree."""
    path = tmp_path / "0_0.jsonl"
    path.write_text("{}\n")
    os.utime(path, ns=(5_000_000_000, 5_000_000_000))
    index = VerdictIndex()
    index.load([{"file": "0_0.jsonl", "is_correct": True, **stamp}])
    assert index.is_stale("0_0.jsonl", path.stat()) is expected
    assert index.confirm("0_0.jsonl", path.stat()) is not expected


def test_source_types_by_kind_in_pipeline_order(tmp_path):
    src = tmp_path / "src_math"
    for d in ("multiples", "subjectives", "subjectives_validated", ".tmp_dir", "zeta"):
        (src / d).mkdir(parents=True)
    (src / "multiples_verdicts.jsonl").write_text("")
    (src / "extra_verdicts.jsonl").write_text("")
    (src / "failures.jsonl").write_text("")
    assert layout.source_types(src, samples=True) == ["subjectives", "multiples", "zeta"]
    assert layout.source_types(src, validated=True) == ["subjectives"]
    assert layout.source_types(src, verdicts=True) == ["multiples", "extra"]
    assert layout.source_types(src, samples=True, verdicts=True) == [
        "subjectives", "multiples", "extra", "zeta"
    ]  # fmt: skip
    assert layout.source_types(tmp_path / "missing", samples=True) == []
