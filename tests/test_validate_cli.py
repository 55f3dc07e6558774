"""The validate_sft_data.py command line: files and folders, the table, the audit log, bad input."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

import validate_sft_data as vsd

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = re.compile(r"\d+_\d+\.jsonl")


def _write(path: Path, records: list, raw_lines: list[str] = ()) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = [json.dumps(r, ensure_ascii=False) for r in records] + list(raw_lines)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _msg(content: str, answer) -> dict:
    return {
        "messages": [
            {"role": "user", "content": "문제"},
            {"role": "assistant", "content": f"<think>\\boxed{{0}}</think>\n\n{content}"},
        ],
        "answer": answer,
        "meta": {"source": "s"},
    }


def _run(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(ROOT / "validate_sft_data.py"), *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
    )


def _audit(out: Path) -> list[dict]:
    return [json.loads(line) for line in (out / "audit.jsonl").read_text().splitlines()]


@pytest.mark.e2e
def test_cli_grades_a_folder_and_skips_validated_and_merged(tmp_path):
    data = tmp_path / "sft_output"
    _write(data / "src" / "multiples" / "0_0.jsonl", [_msg(r"\boxed{③}", 3)])
    _write(data / "src" / "multiples" / "0_1.jsonl", [_msg(r"\boxed{4}", 3)])
    _write(data / "src" / "subjectives" / "1_0.jsonl", [_msg("no box here: 12", 12)])
    _write(data / "src" / "subjectives" / "1_1.jsonl", [_msg(r"\boxed{12\text{개}}", 12)])
    _write(data / "src" / "multiples_validated" / "0_0.jsonl", [_msg(r"\boxed{1}", 2)])
    _write(data / "merged" / "sft_math_all_messages.jsonl", [_msg(r"\boxed{1}", 2)])
    out = tmp_path / "out"

    result = _run(str(data), "--output_dir", str(out), cwd=tmp_path)

    assert result.returncode == 0, result.stderr
    audit = _audit(out)
    assert len(audit) == 4
    assert not any("_validated" in a["file"] or "merged" in a["file"] for a in audit)
    by_name = {Path(a["file"]).name: a for a in audit}
    assert by_name["0_0.jsonl"]["reason"] == "match_choice"
    assert by_name["0_1.jsonl"]["reason"] == "mismatch"
    assert by_name["1_0.jsonl"]["reason"] == "no_box"
    assert by_name["1_1.jsonl"]["is_correct"] is True
    assert sum(a["is_correct"] for a in audit) == 2  # the printed table: the by-folder test
    validated = sorted(p.name for p in (out / "validated").rglob("*.jsonl"))
    assert validated == ["0_0.jsonl", "1_1.jsonl"]
    copy = json.loads(
        (out / "validated" / "sft_output" / "src" / "multiples" / "0_0.jsonl").read_text()
    )
    assert copy["meta"]["verdict"] == "match_choice" and copy["meta"]["extracted_answer"] == "③"
    assert copy["meta"]["source"] == "s"
    assert not (out / "incorrect").exists()


@pytest.mark.e2e
def test_cli_given_validated_folder_directly_is_graded(tmp_path):
    folder = _write(tmp_path / "x_validated" / "a.jsonl", [_msg(r"\boxed{1}", 1)]).parent
    out = tmp_path / "out"
    result = _run(str(folder), "--output_dir", str(out), cwd=tmp_path)
    assert result.returncode == 0
    assert len(_audit(out)) == 1


@pytest.mark.e2e
def test_cli_bad_lines_named_and_rest_graded(tmp_path):
    good = _write(tmp_path / "good.jsonl", [{"solution": r"\boxed{2}", "answer": 2}])
    bad = _write(
        tmp_path / "bad.jsonl",
        [{"solution": r"\boxed{1}", "answer": 1}],
        raw_lines=["{not json", "[1, 2]", json.dumps({"solution": r"\boxed{5}", "answer": 5})],
    )
    out = tmp_path / "out"

    result = _run(str(bad), str(good), "--output_dir", str(out), cwd=tmp_path)

    assert result.returncode == 1
    assert f"{bad}:2: invalid JSON" in result.stderr
    assert f"{bad}:3: expected a JSON object" in result.stderr
    audit = _audit(out)
    assert [(Path(a["file"]).name, a["line"], a["is_correct"]) for a in audit] == [
        ("bad.jsonl", 1, True),
        ("bad.jsonl", 4, True),
        ("good.jsonl", 1, True),
    ]


@pytest.mark.e2e
def test_cli_keep_incorrect(tmp_path):
    src = _write(
        tmp_path / "mixed.jsonl",
        [
            {"output": r"\boxed{\frac{1}{2}}", "answer": "0.5"},
            {"output": r"\boxed{0.33}", "answer": r"\frac13"},
            {"output": "prose 7", "answer": 7},
        ],
    )
    out = tmp_path / "out"
    assert (
        _run(str(src), "--output_dir", str(out), "--keep_incorrect", cwd=tmp_path).returncode == 0
    )
    kept = (out / "incorrect" / "mixed.jsonl").read_text().splitlines()
    assert [json.loads(line)["meta"]["verdict"] for line in kept] == ["mismatch", "no_box"]
    assert len((out / "validated" / "mixed.jsonl").read_text().splitlines()) == 1


def test_main_in_process_grades_every_line(tmp_path):
    src = _write(tmp_path / "a.jsonl", [{"solution": r"\boxed{3}", "answer": 3}] * 3)
    assert vsd.main([str(src), "--output_dir", str(tmp_path / "o")]) == 0
    assert [a["is_correct"] for a in _audit(tmp_path / "o")] == [True] * 3
    assert len((tmp_path / "o" / "validated" / "a.jsonl").read_text().splitlines()) == 3


@pytest.mark.e2e
def test_rerun_over_a_tree_holding_our_output_skips_it(tmp_path):
    data = tmp_path / "sft_output"
    _write(data / "src" / "subjectives" / "0_0.jsonl", [_msg(r"\boxed{2}", 2)])
    out = data / "validation"
    assert _run(str(data), "--output_dir", str(out), cwd=tmp_path).returncode == 0
    assert _run(str(data), "--output_dir", str(out), cwd=tmp_path).returncode == 0
    audit = _audit(out)
    assert [Path(a["file"]).name for a in audit] == ["0_0.jsonl"]


@pytest.mark.e2e
def test_output_tree_grades_sample_files_only_one_row_per_folder(tmp_path, sample_writer):
    # A generator + watcher output folder: samples beside verdict logs, failures and copies.
    data = tmp_path / "sft_output"
    for type_ in ("subjectives", "multiples"):
        for p in range(3):
            for s in range(2):
                sample_writer(data, "src", type_, p, s, correct=s == 0, answer=3)
    (data / "src" / "failures.jsonl").write_text(
        json.dumps({"generation_id": "src/multiples/0_9", "error": "timeout"}) + "\n"
    )
    out = tmp_path / "audit"

    result = _run(str(data / "src"), "--output_dir", str(out), cwd=tmp_path)

    assert result.returncode == 0, result.stderr
    audit = _audit(out)
    assert len(audit) == 12
    assert all(SAMPLE.fullmatch(Path(a["file"]).name) for a in audit)
    lines = result.stdout.splitlines()[1:-1]
    rows = [line.split() for line in lines if not line.startswith("---")]  # rules: text_table's
    assert rows == [
        [str(data / "src" / "multiples"), "6", "6", "0", "100.0%"],
        [str(data / "src" / "subjectives"), "6", "6", "0", "100.0%"],
        ["TOTAL", "12", "12", "0", "100.0%"],
    ]


# --- the output folder is rebuilt whole, and every path is checked first (issue 23) ---


@pytest.mark.e2e
def test_a_rerun_leaves_no_file_of_the_earlier_run(tmp_path):
    first = _write(tmp_path / "a" / "first.jsonl", [_msg(r"\boxed{1}", 1), _msg(r"\boxed{2}", 3)])
    second = _write(tmp_path / "b" / "second.jsonl", [_msg(r"\boxed{4}", 4)])
    out = tmp_path / "audit"
    assert (
        _run(str(first), "--output_dir", str(out), "--keep_incorrect", cwd=tmp_path).returncode == 0
    )
    assert (out / "validated" / "first.jsonl").exists() and (out / "incorrect").exists()
    result = _run(str(second), "--output_dir", str(out), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    files = sorted(str(p.relative_to(out)) for p in out.rglob("*") if p.is_file())
    assert files == [".validate_sft_data", "audit.jsonl", "validated/second.jsonl"]
    assert [Path(a["file"]).name for a in _audit(out)] == ["second.jsonl"]
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".audit.")]  # no staging left


@pytest.mark.e2e
def test_a_missing_path_changes_nothing(tmp_path):
    src = _write(tmp_path / "s.jsonl", [_msg(r"\boxed{1}", 1)])
    out = tmp_path / "audit"
    assert _run(str(src), "--output_dir", str(out), cwd=tmp_path).returncode == 0
    before = (out / "audit.jsonl").read_text()
    result = _run(str(src), str(tmp_path / "typo.jsonl"), "--output_dir", str(out), cwd=tmp_path)
    assert result.returncode == 2
    assert f"error: {tmp_path / 'typo.jsonl'}: no such file or folder" in result.stderr
    assert "Traceback" not in result.stderr
    assert (out / "audit.jsonl").read_text() == before and before.strip()


def test_a_folder_of_other_files_is_refused(tmp_path, capsys):
    src = _write(tmp_path / "s.jsonl", [_msg(r"\boxed{1}", 1)])
    mine = tmp_path / "mine"
    (mine / "notes.txt").parent.mkdir()
    (mine / "notes.txt").write_text("keep me")
    assert vsd.main([str(src), "--output_dir", str(mine)]) == 2  # in-process: the same main()
    assert "holds files this tool did not write" in capsys.readouterr().err
    assert [p.name for p in mine.iterdir()] == ["notes.txt"]


@pytest.mark.e2e
def test_output_dir_has_help():
    result = subprocess.run(
        [sys.executable, str(ROOT / "validate_sft_data.py"), "-h"],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    text = " ".join(result.stdout.split())
    assert "--output_dir OUTPUT_DIR folder for audit.jsonl" in text
