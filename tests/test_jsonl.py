"""sftkit.common.jsonl: bad lines are named by file:line, writes are all-or-nothing, logs survive torn lines."""

from __future__ import annotations

import pytest

from sftkit.common.jsonl import (
    InputError,
    append_jsonl,
    atomic_write_jsonl,
    parse_lines,
    read_jsonl,
    read_log,
)


@pytest.mark.parametrize(
    "text, message",
    [
        ('{"a": 1}\n{"a": \n', ":2: invalid JSON"),
        ('{"a": 1}\n\n[1, 2]\n', ":3: expected a JSON object, got list"),
        ('"just a string"\n', ":1: expected a JSON object, got str"),
    ],
)
def test_read_jsonl_names_file_and_line(tmp_path, text, message):
    path = tmp_path / "x_math.jsonl"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(InputError, match=f"x_math.jsonl{message}"):
        list(read_jsonl(path))


def test_read_jsonl_skips_blank_lines_and_keeps_numbers(tmp_path):
    path = tmp_path / "x.jsonl"
    path.write_text('\n{"a": 1}\n\n{"a": 2}\n', encoding="utf-8")
    assert list(read_jsonl(path)) == [(2, {"a": 1}), (4, {"a": 2})]


def test_parse_lines_reports_bad_lines_and_goes_on():
    lines = ['{"a": 1}', "", "[1]", '{"a":', '{"a": 2}']
    assert list(parse_lines("f.jsonl", lines)) == [
        (1, {"a": 1}),
        (3, "f.jsonl:3: expected a JSON object, got list"),
        (4, "f.jsonl:4: invalid JSON: Expecting value"),
        (5, {"a": 2}),
    ]


def test_parse_lines_of_bytes_names_a_line_that_is_not_utf8_and_goes_on():
    lines = ['{"a": "가"}'.encode(), '{"a": "가"}'.encode("cp949"), b"\n", b'{"a": 2}']
    assert list(parse_lines("f.jsonl", lines)) == [
        (1, {"a": "가"}),
        (2, "f.jsonl:2: not UTF-8 text"),
        (4, {"a": 2}),
    ]
    named = parse_lines("f.jsonl", lines, lambda row, raw, exc: f"row {row} byte {exc.start}")
    assert [obj for _, obj in named][1] == "row 2 byte 7"


def test_atomic_write_replaces_whole_file_and_leaves_no_temp(tmp_path):
    path = tmp_path / "deep" / "0_0.jsonl"
    atomic_write_jsonl(path, [{"k": "첫"}])
    atomic_write_jsonl(path, [{"k": 1}, {"k": 2}])
    assert path.read_text(encoding="utf-8") == '{"k":1}\n{"k":2}\n'
    assert [p.name for p in path.parent.iterdir()] == ["0_0.jsonl"]


def test_failed_atomic_write_keeps_the_old_file(tmp_path):
    path = tmp_path / "0_0.jsonl"
    atomic_write_jsonl(path, [{"k": 1}])

    def broken():
        yield {"k": 2}
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError):
        atomic_write_jsonl(path, broken())
    assert path.read_text(encoding="utf-8") == '{"k":1}\n'
    assert [p.name for p in tmp_path.iterdir()] == ["0_0.jsonl"]


def test_append_batches_and_read_log_skips_a_torn_last_line(tmp_path):
    path = tmp_path / "subjectives_verdicts.jsonl"
    append_jsonl(path, {"file": "0_0.jsonl", "is_correct": False})
    append_jsonl(path, {"file": "0_1.jsonl", "is_correct": True}, {"file": "0_0.jsonl", "x": 1})
    append_jsonl(path)  # nothing to append: no empty line either
    with path.open("a", encoding="utf-8") as fh:
        fh.write('[1]\n{"no_file": 1}\n{"file": "0_2.js')  # foreign lines, then a crash mid-line
    records, bad = read_log(path)
    assert [n for n, _ in records] == [1, 2, 3, 5] and bad == [4, 6]
    assert read_log(tmp_path / "missing.jsonl") == ([], [])
