"""sftkit.watching.checkpoint: a verdict log's index saved beside it, read back at a restart only
while it holds for the log as it is now, and the watcher keeping one for big logs."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from sftkit.common.jsonl import append_jsonl
from sftkit.output import layout
from sftkit.watching import checkpoint
from sftkit.watching.index import LIVE, STAMPED


def verdict(name: str, correct: bool = True, **extra) -> dict:
    line = {"file": name, "is_correct": correct, "reason": "match_exact" if correct else "mismatch"}
    line.update({"graded_at": 1700000000.5, "mtime_ns": 5, "size": 100})
    return {**line, **extra}


def write_log(log: Path) -> None:
    """A log with what a real one holds: regraded files, an odd name, an error, an unstamped
    (older) line, token figures, a sample index far beyond the dense slots, a torn line."""
    lines = [verdict(f"{p}_{s}.jsonl", (p + s) % 2 == 0) for p in range(30) for s in range(4)]
    lines += [
        verdict("3_1.jsonl", True),  # regraded: the last line wins
        verdict("odd.jsonl", False, error="odd.jsonl:1: invalid JSON"),
        {"file": "40_0.jsonl", "is_correct": True, "reason": "match_exact", "graded_at": 9.0},
        verdict("41_0.jsonl", prompt_tokens=12, completion_tokens=345, truncated=False,
                with_reasoning=True),
        verdict("42_70000.jsonl"),
    ]  # fmt: skip
    append_jsonl(log, *lines)
    with log.open("a") as fh:
        fh.write("{not json\n")


def state(index) -> dict:
    """What an index says from its log: name -> entry fields (live flag and the inode a listing
    saw aside), plus errors and size."""
    entries = {name: (e.flags & ~LIVE, e.size, e.mtime_ns, *e[4:]) for name, e in index.items()}
    return {"entries": entries, "errors": dict(index.errors), "size": len(index)}


@pytest.fixture
def log(tmp_path) -> Path:
    path = layout.verdict_log(tmp_path / "src" / "multiples")
    write_log(path)
    return path


def saved(log: Path):
    """Read the log whole, mark a few entries live with an inode as a listing does, save."""
    index, bad = layout.read_verdict_index(log)
    assert index.checkpoint_lines == 0 and bad == [index.log_lines]  # the torn last line
    for name in ("0_0.jsonl", "odd.jsonl", "42_70000.jsonl"):
        index.mark(name, index.get(name), live=True, inode=77)
    checkpoint.save(index, log, layout.index_checkpoint(log))
    return index, bad


def test_a_restart_reads_the_checkpoint_and_gets_what_the_log_says(log):
    whole, bad = saved(log)
    again, bad_again = layout.read_verdict_index(log)
    assert again.checkpoint_lines == again.log_lines == whole.log_lines > 0  # from the checkpoint
    assert state(again) == state(whole) and bad_again == []
    # Nothing is live until a listing confirms it; the inode a listing saw is kept.
    assert again.counts == {"graded": 0, "correct": 0, "no_box": 0, "errors": 0}
    assert all(not e.flags & LIVE for _, e in again.items())
    assert again.get("0_0.jsonl").inode == 77 and again.get("odd.jsonl").inode == 77
    assert again.get("40_0.jsonl").flags & STAMPED == 0  # the unstamped line stays unstamped
    assert again.get("41_0.jsonl").figures.completion_tokens == 345


def test_lines_logged_after_the_checkpoint_are_read_on_top(log):
    saved(log)
    append_jsonl(log, verdict("0_0.jsonl", False), verdict("99_0.jsonl"))  # a regrade, a new one
    with log.open("a") as fh:
        fh.write("garbage\n")
    got, bad = layout.read_verdict_index(log)
    layout.index_checkpoint(log).unlink()
    want, want_bad = layout.read_verdict_index(log)
    assert got.checkpoint_lines > 0 and want.checkpoint_lines == 0
    assert state(got) == state(want) and got.log_lines == want.log_lines
    assert not got.get("0_0.jsonl").correct and got.get("99_0.jsonl").correct
    assert bad == [want.log_lines] and want_bad[-1] == want.log_lines  # numbered as in the file


def _replace(log: Path) -> None:
    copy = log.with_suffix(".new")
    copy.write_bytes(log.read_bytes())
    os.replace(copy, log)  # same bytes, another file: the checkpoint is not its


def _truncate(log: Path) -> None:
    with log.open("r+b") as fh:
        fh.truncate(log.stat().st_size // 2)


def _edit(log: Path) -> None:
    data = bytearray(log.read_bytes())
    at = data.rindex(b'"is_correct":true', 0, len(data) - 20) + len(b'"is_correct":')
    data[at : at + 4] = b"null"  # same length, same file, another verdict
    with log.open("r+b") as fh:
        fh.write(data)


def _cut_checkpoint(log: Path) -> None:
    path = layout.index_checkpoint(log)
    path.write_bytes(path.read_bytes()[:-10])


def _foreign_checkpoint(log: Path) -> None:
    layout.index_checkpoint(log).write_bytes(b'{"problems": 1}\n')


def _other_slot_layout(log: Path) -> None:
    path = layout.index_checkpoint(log)
    data = path.read_bytes()
    end = data.index(b"\n", len(checkpoint.MAGIC))
    head = json.loads(data[len(checkpoint.MAGIC) : end])
    head["slot"] = "<Hqq"
    path.write_bytes(checkpoint.MAGIC + json.dumps(head).encode() + data[end:])


@pytest.mark.parametrize(
    "change",
    [_replace, _truncate, _edit, _cut_checkpoint, _foreign_checkpoint, _other_slot_layout],
)
def test_a_checkpoint_that_does_not_hold_is_ignored(log, change):
    saved(log)
    change(log)
    got, bad = layout.read_verdict_index(log)
    assert got.checkpoint_lines == 0  # read whole
    kept = layout.index_checkpoint(log).read_bytes()
    layout.index_checkpoint(log).unlink()
    want, want_bad = layout.read_verdict_index(log)
    assert state(got) == state(want) and bad == want_bad
    layout.index_checkpoint(log).write_bytes(kept)


@pytest.mark.e2e  # grading worker processes
def test_the_watcher_keeps_a_checkpoint_and_a_restart_still_sees_every_change(
    tmp_path, monkeypatch, sample_writer
):
    from sftkit.watching.config import parse_args
    from sftkit.watching.loop import run

    monkeypatch.setattr(checkpoint, "MIN_LINES", 10)  # a big log, in miniature
    out = tmp_path / "out"
    for p in range(8):
        for s in range(3):
            content = f"so \\boxed{{{3 if (p + s) % 2 == 0 else 4}}}"
            sample_writer(out, "src", "multiples", p, s, correct=None, content=content)
    cfg = parse_args(["--output_dir", str(out), "--once", "--workers", "1"])
    assert run(cfg) == 0
    log = layout.verdict_log(out / "src" / "multiples")
    ckpt = layout.index_checkpoint(log)
    assert ckpt.exists() and len(log.read_text().splitlines()) == 24

    # While the watcher is down: a file rewritten in place (same inode), one replaced, one
    # removed, one new. The restart grades exactly the changed and new ones.
    folder = out / "src" / "multiples"
    inode = (folder / "0_0.jsonl").stat().st_ino
    rewritten = sample_writer(tmp_path / "spare", "src", "multiples", 0, 0, correct=None,
                              content="so \\boxed{4} after all")  # fmt: skip
    with (folder / "0_0.jsonl").open("w") as fh:
        fh.write(json.dumps(rewritten) + "\n")
    assert (folder / "0_0.jsonl").stat().st_ino == inode
    sample_writer(out, "src", "multiples", 1, 1, correct=None, content="so \\boxed{3}")
    (folder / "2_0.jsonl").unlink()
    sample_writer(out, "src", "multiples", 9, 0, correct=None, content="so \\boxed{3}")
    assert run(cfg) == 0
    lines = [json.loads(x) for x in log.read_text().splitlines()]
    assert sorted(x["file"] for x in lines[24:]) == ["0_0.jsonl", "1_1.jsonl", "9_0.jsonl"]
    status = json.loads(layout.status_file(out).read_text())
    index, _ = layout.read_verdict_index(log)
    correct = {n for n, e in index.items() if e.correct and (folder / n).exists()}
    assert (status["graded"], status["correct"]) == (24, len(correct))
    assert "0_0.jsonl" not in correct and {"1_1.jsonl", "9_0.jsonl"} <= correct
    assert index.checkpoint_lines == 27  # saved again at the end, holding the new lines

    # Without the checkpoint the same folder says the same.
    ckpt.unlink()
    assert run(cfg) == 0
    again = json.loads(layout.status_file(out).read_text())
    assert {k: again[k] for k in ("graded", "correct")} == {"graded": 24, "correct": len(correct)}
    assert len(log.read_text().splitlines()) == 27  # nothing regraded


class Listed:
    """A DirEntry stand-in that counts its stat() calls (the listing's inode is free)."""

    def __init__(self, path: Path):
        self.name, self.path, self.stats = path.name, path, 0

    def inode(self) -> int:
        return os.stat(self.path).st_ino

    def stat(self) -> os.stat_result:
        self.stats += 1
        return os.stat(self.path)


def listed(folder: Path, names: list[str]) -> list[tuple[Listed, object]]:
    return [(Listed(folder / n), layout.SAMPLE_NAME.fullmatch(n)) for n in names]


def test_a_start_trusts_only_the_inodes_a_listing_confirmed(tmp_path, sample_writer):
    folder = tmp_path / "src" / "multiples"
    names = ["0_0.jsonl", "1_0.jsonl", "2_0.jsonl"]
    for p in range(3):
        sample_writer(tmp_path, "src", "multiples", p, 0, correct=True)
    log = layout.verdict_log(folder)
    index, _ = layout.read_verdict_index(log)
    for name in names[:2]:  # a listing confirmed two of them: their inodes are noted
        assert index.confirm(name, os.stat(folder / name))
    checkpoint.save(index, log, layout.index_checkpoint(log))
    with (folder / "0_0.jsonl").open("a") as fh:  # rewritten in place: same inode, now stale
        fh.write("\n")

    trusted, _ = layout.read_verdict_index(log)
    entries = listed(folder, names)
    assert list(trusted.confirm_listed(entries, trust_inode=True)) == []
    assert [e.stats for e, _ in entries] == [0, 0, 1]  # no inode noted for 2_0: looked at
    assert trusted.unverified == 2  # the watcher checks these in the background
    assert trusted.counts["graded"] == 3
    # The check that follows (the watcher's _verify) stats each and finds the rewrite.
    found = [name for name, _ in trusted.confirm_listed(listed(folder, names))]
    assert found == ["0_0.jsonl"] and trusted.counts["graded"] == 2


WATCHER = Path(__file__).resolve().parents[1] / "validate_watcher.py"
SHIM = f"""
import runpy, sys
from sftkit.watching import checkpoint, watcher
checkpoint.MIN_LINES = 10  # a big log, in miniature
watcher.VERIFY_PER_POLL = 5  # the background check takes several polls
sys.argv = [{str(WATCHER)!r}, *sys.argv[1:]]
runpy.run_path({str(WATCHER)!r}, run_name="__main__")
"""


@pytest.mark.e2e  # the watcher CLI and its grading processes
def test_a_restarted_live_watcher_finds_a_rewrite_in_place_in_the_background(
    tmp_path, sample_writer
):
    import subprocess
    import sys
    import time

    out = tmp_path / "out"
    for p in range(8):
        for s in range(3):
            sample_writer(out, "src", "multiples", p, s, correct=None, content="so \\boxed{3}")
    shim = tmp_path / "shim.py"
    shim.write_text(SHIM)
    cmd = [sys.executable, str(shim), "--output_dir", str(out), "--interval", "0.2"]
    repo = str(WATCHER.parent)
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([repo, os.environ.get("PYTHONPATH", "")]))
    first = subprocess.run([*cmd, "--once"], capture_output=True, text=True, env=env, timeout=60)
    assert first.returncode == 0, first.stderr
    log = layout.verdict_log(out / "src" / "multiples")
    assert layout.index_checkpoint(log).exists() and len(log.read_text().splitlines()) == 24

    victim = out / "src" / "multiples" / "5_2.jsonl"
    wrong = sample_writer(tmp_path / "spare", "src", "multiples", 5, 2, correct=None,
                          content="so \\boxed{4}")  # fmt: skip
    with victim.open("w") as fh:  # same inode, another answer
        fh.write(json.dumps(wrong) + "\n")
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        deadline = time.monotonic() + 60
        while len(log.read_text().splitlines()) < 25:
            assert time.monotonic() < deadline and proc.poll() is None
            time.sleep(0.05)
        (out / ".watcher_stop").touch()
        _, stderr = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, stderr
    lines = [json.loads(x) for x in log.read_text().splitlines()]
    assert [x["file"] for x in lines[24:]] == ["5_2.jsonl"] and lines[-1]["is_correct"] is False
    status = json.loads(layout.status_file(out).read_text())
    assert (status["graded"], status["correct"], status["verifying_folders"]) == (24, 23, 0)
    assert not (out / "src" / "multiples_validated" / "5_2.jsonl").exists()
