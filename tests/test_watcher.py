"""validate_watcher.py driven as a real process: verdict logs, _validated copies, incomplete and
unreadable files, restart and --rescan, a pathological grader, the stop-file handshake."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import write_sample

pytestmark = pytest.mark.e2e  # runs the CLIs, servers or worker processes for real

REPO = Path(__file__).resolve().parents[1]
WATCHER = str(REPO / "validate_watcher.py")
TYPES = ("subjectives", "multiples")


def read_lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def env(extra_path: Path | None = None) -> dict:
    e = dict(os.environ, PYTHONUNBUFFERED="1")
    paths = [str(p) for p in (extra_path, REPO) if p]
    e["PYTHONPATH"] = os.pathsep.join(paths + [e.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    return e


def run_once(out: Path, *args: str, extra_path: Path | None = None, timeout: float = 60):
    return subprocess.run(
        [sys.executable, WATCHER, "--output_dir", str(out), "--once", "--interval", "0.2", *args],
        capture_output=True,
        text=True,
        env=env(extra_path),
        timeout=timeout,
    )


def start(out: Path, *args: str, extra_path: Path | None = None) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, WATCHER, "--output_dir", str(out), "--interval", "0.2", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env(extra_path),
    )


def wait_until(cond, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        time.sleep(0.05)


def verdict_lines(out: Path, source: str = "src") -> dict[str, list[dict]]:
    """type -> every verdict line in its log."""
    logs = {}
    for t in TYPES:
        path = out / source / f"{t}_verdicts.jsonl"
        logs[t] = read_lines(path) if path.exists() else []
    return logs


def validated_names(out: Path, type_: str, source: str = "src") -> set[str]:
    folder = out / source / f"{type_}_validated"
    return {p.name for p in folder.glob("*.jsonl")} if folder.exists() else set()


def populate(out: Path, problems: int = 6, samples: int = 3) -> dict[tuple[str, str], bool]:
    """Samples with gold 3 whose boxed answer is right for even s+p, else 4; some without a box.

    Returns {(type, file name): expected correct}.
    """
    expected = {}
    for t in TYPES:
        for p in range(problems):
            for s in range(samples):
                if (p, s) == (1, 1):
                    content, ok = "I could not finish this one.", False
                else:
                    ok = (p + s) % 2 == 0
                    content = f"따라서 답은 \\boxed{{{3 if ok else 4}}} 이다."
                write_sample(out, "src", t, p, s, correct=None, content=content, answer=3)
                expected[(t, f"{p}_{s}.jsonl")] = ok
    return expected


def assert_graded_exactly(out: Path, expected: dict[tuple[str, str], bool]) -> None:
    logs = verdict_lines(out)
    for t in TYPES:
        names = [v["file"] for v in logs[t]]
        assert sorted(names) == sorted(n for (tt, n) in expected if tt == t), "one verdict per file"
        for v in logs[t]:
            assert v["is_correct"] == expected[(t, v["file"])], v
        assert validated_names(out, t) == {n for (tt, n), ok in expected.items() if tt == t and ok}


def test_grades_every_file_once_and_copies_exactly_the_correct_ones(tmp_path):
    out = tmp_path / "out dir"
    expected = populate(out)
    res = run_once(out)
    assert res.returncode == 0, res.stderr
    assert_graded_exactly(out, expected)
    line = verdict_lines(out)["multiples"][0]
    assert set(line) == {
        "file",
        "problem_index",
        "sample_index",
        "is_correct",
        "extracted_answer",
        "ground_truth",
        "reason",
        "graded_at",
        "mtime_ns",
        "size",
        # the figures the report counts, so it need not read the sample (issue 23)
        "prompt_tokens",
        "completion_tokens",
        "truncated",
        "with_reasoning",
    }
    no_box = [v for v in verdict_lines(out)["subjectives"] if v["file"] == "1_1.jsonl"]
    assert no_box[0]["reason"] == "no_box" and no_box[0]["problem_index"] == 1
    copy = read_lines(out / "src" / "multiples_validated" / "0_0.jsonl")[0]
    original = read_lines(out / "src" / "multiples" / "0_0.jsonl")[0]
    assert copy["meta"]["extracted_answer"] == "3"
    assert copy["meta"]["verdict"].startswith("match_")
    assert {k: v for k, v in copy["meta"].items() if k not in ("verdict", "extracted_answer")} == (
        original["meta"]
    )
    status = json.loads((out / ".status.json").read_text())
    n_correct = sum(expected.values())
    assert status["graded"] == len(expected) and status["correct"] == n_correct
    assert status["incorrect"] == len(expected) - n_correct
    assert status["no_box"] == 2 and status["pending"] == 0 and status["stopped"] is True
    # The final table: one row per source x type plus the total.
    assert "src" in res.stdout and "TOTAL" in res.stdout and "accuracy" in res.stdout


def test_skips_validated_merged_and_hidden_files(tmp_path):
    out = tmp_path / "out"
    write_sample(out, "src", "multiples", 0, 0, correct=None, answer=3)
    # Look-alike sample names in folders the watcher must leave alone.
    write_sample(out / "merged", "src", "multiples", 5, 5, correct=None)
    (out / "src" / "multiples" / ".9_9.jsonl.abc.tmp").write_text("{half")
    res = run_once(out)
    assert res.returncode == 0, res.stderr
    assert [v["file"] for v in verdict_lines(out)["multiples"]] == ["0_0.jsonl"]
    assert not (out / "merged" / "src" / "multiples_verdicts.jsonl").exists()
    assert validated_names(out, "multiples") == {"0_0.jsonl"}


def test_incomplete_file_is_retried_next_poll_not_marked_done(tmp_path):
    out = tmp_path / "out"
    write_sample(out, "src", "multiples", 0, 0, correct=None, answer=3)
    record = write_sample(out, "src", "multiples", 1, 0, correct=None, answer=3)
    target = out / "src" / "multiples" / "1_0.jsonl"
    full = json.dumps(record, ensure_ascii=False) + "\n"
    target.write_text(full[: len(full) // 2])  # a producer writing in place, half-way through
    proc = start(out, "--max_tries", "1000")

    def reads() -> int:  # reads that found the file incomplete, a counter in .status.json
        status = out / ".status.json"
        return json.loads(status.read_text())["incomplete_reads"] if status.exists() else 0

    try:
        wait_until(lambda: len(verdict_lines(out)["multiples"]) == 1)
        wait_until(lambda: reads() >= 3)  # several polls read the half-written file
        assert [v["file"] for v in verdict_lines(out)["multiples"]] == ["0_0.jsonl"]
        target.write_text(full[:-1])  # complete JSON, newline not yet written
        seen = reads()
        wait_until(lambda: reads() >= seen + 2)  # read again since: still incomplete
        assert len(verdict_lines(out)["multiples"]) == 1
        with target.open("a") as fh:
            fh.write("\n")
        wait_until(lambda: len(verdict_lines(out)["multiples"]) == 2)
    finally:
        (out / ".watcher_stop").touch()
        stdout, stderr = proc.communicate(timeout=30)
    assert proc.returncode == 0, stderr
    verdict = {v["file"]: v for v in verdict_lines(out)["multiples"]}["1_0.jsonl"]
    assert verdict["is_correct"] and "error" not in verdict
    assert validated_names(out, "multiples") == {"0_0.jsonl", "1_0.jsonl"}


def test_unreadable_file_is_reported_and_skipped(tmp_path):
    out = tmp_path / "out"
    write_sample(out, "src", "multiples", 0, 0, correct=None, answer=3)
    bad = out / "src" / "multiples" / "1_0.jsonl"
    bad.write_text('{"messages": [}\n')
    res = run_once(out, "--max_tries", "2")
    assert res.returncode == 1
    assert f"{bad}:1: invalid JSON" in res.stderr
    by_file = {v["file"]: v for v in verdict_lines(out)["multiples"]}
    assert by_file["0_0.jsonl"]["is_correct"] is True
    assert (
        by_file["1_0.jsonl"]["reason"] == "unparseable"
        and "1_0.jsonl:1" in by_file["1_0.jsonl"]["error"]
    )
    assert json.loads((out / ".status.json").read_text())["errors"] == 1
    # Not read again while unchanged, but still reported: --once exits as the live run did.
    again = run_once(out, "--max_tries", "2")
    assert again.returncode == 1 and len(verdict_lines(out)["multiples"]) == 2
    assert f"  {bad}:1: invalid JSON" in again.stdout


@pytest.mark.parametrize("rewrite", ["replace", "in_place"])
def test_a_changed_file_is_graded_again_once_and_live_agree(tmp_path, rewrite):
    # A corrupt sample graded unparseable by the live watcher, then replaced by a good one under
    # the same name: its verdict, validated copy and exit code follow the new content.
    out = tmp_path / "out"
    write_sample(out, "src", "multiples", 0, 0, correct=None, answer=3)
    bad = out / "src" / "multiples" / "1_0.jsonl"
    bad.write_text('{"messages": [}\n')
    proc = start(out, "--max_tries", "2")
    wait_until(lambda: len(verdict_lines(out)["multiples"]) == 2)
    (out / ".watcher_stop").touch()
    _, stderr = proc.communicate(timeout=30)
    assert proc.returncode == 1 and "1_0.jsonl:1: invalid JSON" in stderr
    assert run_once(out).returncode == 1  # unchanged: --once says what the live watcher said

    good = json.dumps(write_sample(tmp_path / "spare", "src", "multiples", 1, 0, correct=None))
    if rewrite == "replace":
        write_sample(out, "src", "multiples", 1, 0, correct=None)  # temp file + rename
    else:
        with bad.open("w") as fh:  # cp good.jsonl 1_0.jsonl: same inode, new content
            fh.write(good + "\n")
    res = run_once(out)
    assert res.returncode == 0, res.stdout + res.stderr
    latest = {v["file"]: v for v in verdict_lines(out)["multiples"]}["1_0.jsonl"]
    assert latest["is_correct"] is True and "error" not in latest
    assert latest["size"] == bad.stat().st_size
    assert validated_names(out, "multiples") == {"0_0.jsonl", "1_0.jsonl"}
    status = json.loads((out / ".status.json").read_text())
    assert (status["graded"], status["correct"], status["errors"]) == (2, 2, 0)
    assert run_once(out).returncode == 0 and len(verdict_lines(out)["multiples"]) == 3


def test_killed_watcher_restarts_with_identical_totals(tmp_path):
    out = tmp_path / "out"
    expected = populate(out, problems=40, samples=5)
    # Throttle to one small batch at a time so the kill lands mid-run.
    proc = start(out, "--workers", "1", "--batch_size", "2")
    wait_until(lambda: 0 < sum(map(len, verdict_lines(out).values())))
    proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=10)
    partial = sum(map(len, verdict_lines(out).values()))
    assert 0 < partial < len(expected)

    res = run_once(out)
    assert res.returncode == 0, res.stderr
    assert_graded_exactly(out, expected)
    got = json.loads((out / ".status.json").read_text())
    n_correct = sum(expected.values())
    want = {"graded": len(expected), "correct": n_correct, "incorrect": len(expected) - n_correct}
    assert {k: got[k] for k in want} == want
    assert got["no_box"] == 2 and got["pending"] == 0 and got["errors"] == 0


def test_rescan_regrades_and_rewrites_validated_to_match(tmp_path):
    out = tmp_path / "out"
    # An older checker accepted a wrong answer and left a copy of a sample that is gone.
    write_sample(out, "src", "multiples", 0, 0, correct=True, content="\\boxed{4}", answer=3)
    write_sample(out, "src", "multiples", 1, 0, correct=False, content="\\boxed{3}", answer=3)
    write_sample(out, "src", "multiples", 2, 0, correct=True, answer=3)
    (out / "src" / "multiples" / "2_0.jsonl").unlink()
    assert validated_names(out, "multiples") == {"0_0.jsonl", "2_0.jsonl"}

    plain = run_once(out)  # without --rescan the logs are trusted: nothing is regraded
    assert plain.returncode == 0
    assert len(verdict_lines(out)["multiples"]) == 3

    res = run_once(out, "--rescan")
    assert res.returncode == 0, res.stderr
    assert validated_names(out, "multiples") == {"1_0.jsonl"}
    latest = {v["file"]: v for v in verdict_lines(out)["multiples"]}  # last line per file wins
    assert latest["0_0.jsonl"]["is_correct"] is False
    assert latest["1_0.jsonl"]["is_correct"] is True
    copy = read_lines(out / "src" / "multiples_validated" / "1_0.jsonl")[0]
    assert copy["meta"]["extracted_answer"] == "3"
    status = json.loads((out / ".status.json").read_text())
    assert (status["graded"], status["correct"], status["incorrect"]) == (2, 1, 1)
    # A plain restart reads the log (last line per file wins; 2_0 has no sample any more).
    assert run_once(out).returncode == 0
    status = json.loads((out / ".status.json").read_text())
    assert (status["graded"], status["correct"], status["incorrect"]) == (2, 1, 1)


SLOW_GRADER = """
import os, time
from validate_sft_data import validate_item as real

def validate_item(item):
    text = str(item)
    if "PATHOLOGICAL" in text:
        time.sleep(600)  # stands in for a parse stuck in C code: only a kill stops it
    if "CRASH" in text:
        os._exit(3)
    return real(item)
"""


def test_pathological_item_times_out_and_crash_is_recorded_without_stalling(tmp_path):
    (tmp_path / "hooks").mkdir()
    (tmp_path / "hooks" / "slow_grader.py").write_text(SLOW_GRADER)
    out = tmp_path / "out"
    for s in range(8):
        write_sample(out, "src", "subjectives", 0, s, correct=None, answer=3)
    write_sample(out, "src", "subjectives", 1, 0, correct=None, content="\\boxed{PATHOLOGICAL}")
    write_sample(out, "src", "subjectives", 2, 0, correct=None, content="\\boxed{CRASH}")
    res = run_once(
        out,
        "--grader",
        "slow_grader:validate_item",
        "--timeout",
        "1",
        extra_path=tmp_path / "hooks",
        timeout=60,  # the stuck item alone would take 600 s
    )
    assert res.returncode == 1, res.stderr  # the crash is an error the exit code reports
    by_file = {v["file"]: v for v in verdict_lines(out)["subjectives"]}
    assert len(by_file) == 10 and len(verdict_lines(out)["subjectives"]) == 10
    assert by_file["1_0.jsonl"]["reason"] == "timeout" and not by_file["1_0.jsonl"]["is_correct"]
    assert (
        by_file["2_0.jsonl"]["reason"] == "unparseable" and "crash" in by_file["2_0.jsonl"]["error"]
    )
    assert all(by_file[f"0_{s}.jsonl"]["is_correct"] for s in range(8))
    assert validated_names(out, "subjectives") == {f"0_{s}.jsonl" for s in range(8)}


def test_stop_file_grades_everything_pending_before_exit(tmp_path):
    out = tmp_path / "out"
    proc = start(out, "--interval", "5")  # long polls: only the final scan can catch these
    try:
        wait_until(lambda: (out / ".status.json").exists())
        expected = populate(out, problems=10, samples=4)
        (out / ".watcher_stop").touch()
        stdout, stderr = proc.communicate(timeout=40)
    finally:
        proc.kill()
    assert proc.returncode == 0, stderr
    assert_graded_exactly(out, expected)
    assert json.loads((out / ".status.json").read_text())["stopped"] is True


@pytest.mark.parametrize(
    "args, message",
    [
        (["--interval", "0"], "--interval must be > 0"),
        (["--workers", "0"], "--grading_processes must be >= 1"),
        (["--grader", "nocolon"], "module:function"),
    ],
)
def test_bad_arguments_exit_2(tmp_path, args, message):
    res = run_once(tmp_path, *args)
    assert res.returncode == 2 and message in res.stderr


def test_watch_dirs_can_name_a_source_or_type_folder(tmp_path):
    out = tmp_path / "out"
    write_sample(out, "a", "multiples", 0, 0, correct=None, answer=3)
    write_sample(out, "b", "subjectives", 0, 0, correct=None, answer=3)
    write_sample(out, "c", "multiples", 0, 0, correct=None, answer=3)  # not watched
    res = run_once(
        out, "--watch_dirs", str(out / "a"), str(out / "b" / "subjectives"), str(out / "a")
    )
    assert res.returncode == 0, res.stderr
    assert (
        len(read_lines(out / "a" / "multiples_verdicts.jsonl")) == 1
    )  # watched twice, graded once
    assert len(read_lines(out / "b" / "subjectives_verdicts.jsonl")) == 1
    assert not (out / "c" / "multiples_verdicts.jsonl").exists()
    assert (out / ".status.json").exists()  # status still goes to the output folder
