r"""Faults that end in a sentence (issue 23): malformed 200 replies, a full disk, SIGTERM and
SIGHUP, each with the state it leaves on disk and its documented exit code.

The generator runs in-process against the stand-in server (sftkit/demo/mock_server.py) unless
a signal has to reach it: then it is a subprocess.
"""

from __future__ import annotations

import errno
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import subset

import generate_sft_data as gen
from sftkit.generation import runner
from sftkit.inputs.problems import MULTIPLE, SUBJECTIVE

pytestmark = pytest.mark.e2e  # runs the CLIs, servers or worker processes for real

ROOT = Path(__file__).resolve().parents[1]
SENT = ROOT / "data" / "sentences_ask_boxed.jsonl"


def args(srv, out: Path, src: Path, *extra: str) -> list[str]:
    return [
        "--base_url", srv.base_url, "--output_dir", str(out), "--sentences", str(SENT),
        "--input_file", str(src), "--no_progress", "--max_retries", "3", "--worker", "4", *extra,
    ]  # fmt: skip


def samples(out: Path, source: str = "sub_math") -> list[Path]:
    return sorted(p for t in (SUBJECTIVE, MULTIPLE) for p in (out / source / t).glob("*.jsonl"))


def failures(out: Path, source: str = "sub_math") -> list[dict]:
    path = out / source / "failures.jsonl"
    if not path.exists():
        return []
    return [json.loads(x) for x in path.read_text(encoding="utf-8").splitlines()]


@pytest.fixture
def fast_backoff(monkeypatch):
    monkeypatch.setattr(runner, "MALFORMED_BACKOFF_S", 0.01)


# --- malformed 200 replies: retried like a 5xx, recorded with what was wrong, never stored ---


def test_malformed_replies_are_retried_then_stored(tmp_path, capsys, mock_server, fast_backoff):
    srv = mock_server(p_correct=1.0, script=("cut_json", "no_choices", "null_content"))
    out = tmp_path / "out"
    rc = gen.main(args(srv, out, subset(tmp_path, 2), "--n", "2", "--worker", "1"))
    stdout = capsys.readouterr().out
    assert rc == 0 and not failures(out)
    assert len(samples(out)) == 2 * 2 * 2
    assert (srv.stats["cut_json"], srv.stats["no_choices"], srv.stats["null_content"]) == (1, 1, 1)
    assert "retries 3" in stdout
    for path in samples(out):  # every stored sample holds a real reply
        assert "\\boxed" in path.read_text(encoding="utf-8")


@pytest.mark.parametrize(
    "fault, what",
    [
        ("cut_json", "malformed reply: cut-off JSON body"),
        ("no_choices", "malformed reply: no choices"),
        ("null_content", "malformed reply: content null with no reasoning"),
    ],
)
def test_malformed_replies_that_persist_are_recorded(
    tmp_path, capsys, mock_server, fast_backoff, fault, what
):
    srv = mock_server(**{f"p_{fault}": 1.0})
    out = tmp_path / "out"
    rc = gen.main(args(srv, out, subset(tmp_path, 1), "--n", "2", "--max_retries", "2"))
    assert rc == 1
    fails = failures(out)
    assert len(fails) == 2 * 2 and {f["error"] for f in fails} == {what}
    assert srv.stats[fault] == 2 * 2 * 3  # 4 samples, each asked once and retried twice
    assert not samples(out)
    assert "written 0 (0 truncated), failed 4" in capsys.readouterr().out


# --- SIGTERM and SIGHUP end the generator like Ctrl-C ---


def gen_env() -> dict:
    return {**os.environ, "PYTHONPATH": str(ROOT), "OPENAI_API_KEY": ""}


def wait_for(predicate, seconds: float = 30.0) -> None:
    deadline = time.monotonic() + seconds
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


@pytest.mark.parametrize(
    "signum, code", [(signal.SIGTERM, 143), (signal.SIGHUP, 129), (signal.SIGINT, 130)]
)
def test_signal_ends_the_run_like_ctrl_c(tmp_path, mock_server, signum, code):
    srv = mock_server(p_correct=1.0, latency=0.2)
    out = tmp_path / "out"
    argv = args(srv, out, subset(tmp_path, 5), "--n", "8", "--worker", "2")
    proc = subprocess.Popen(
        [sys.executable, str(ROOT / "generate_sft_data.py"), *argv],
        env=gen_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        wait_for(lambda: len(samples(out)) >= 2)
        proc.send_signal(signum)
        stdout, stderr = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    name = signal.Signals(signum).name
    assert proc.returncode == code, stderr
    assert "Traceback" not in stderr
    kept = samples(out)
    assert 2 <= len(kept) < 5 * 2 * 8
    for path in kept:  # whole files only, and no temp file left behind
        assert json.loads(path.read_text(encoding="utf-8"))["meta"]["generation_id"]
    assert not [p for p in out.rglob("*") if p.name.endswith(".tmp")]
    state = json.loads((out / ".generation.json").read_text(encoding="utf-8"))
    assert state["interrupted"] == name and state["timing"]["written"] == len(kept)
    # The report still has its sampling section, and says the run was stopped.
    from sftkit.output.report import format_report

    assert gen.main(["--merge_only", "--output_dir", str(out)]) == 0
    report = json.loads((out / "report.json").read_text(encoding="utf-8"))
    text = format_report(report)
    gen_state = report["generation"]
    assert (gen_state["interrupted"], gen_state["model"], gen_state["n"]) == (name, "demo-model", 8)
    assert f"interrupted by {name}" in text  # the line's one wording test
    # The same command resumes and completes the rest; its report counts what it skipped.
    assert gen.main(argv) == 0 and len(samples(out)) == 5 * 2 * 8
    report = json.loads((out / "report.json").read_text(encoding="utf-8"))
    assert report["generation"]["totals"]["skipped_existing"] == len(kept)
    assert f"planned 80, {len(kept)} skipped as already stored, written {80 - len(kept)}" in (
        format_report(report)
    )
    assert "interrupted by" not in format_report(report)


# --- a full disk: one line naming the path and the free space, exit 3, nothing torn ---


def test_disk_full_ends_the_generator_with_one_line(tmp_path, capsys, mock_server, monkeypatch):
    from sftkit.common import jsonl

    srv = mock_server(p_correct=1.0)
    out = tmp_path / "out"
    argv = args(srv, out, subset(tmp_path, 3), "--n", "2", "--worker", "1")
    real_write, writes = os.write, [0]

    def write(fd, data):  # the disk fills up after 4 files (samples, state)
        if os.readlink(f"/proc/self/fd/{fd}").endswith(".tmp"):
            writes[0] += 1
            if writes[0] > 4:
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return real_write(fd, data)

    monkeypatch.setattr(jsonl.os, "write", write)
    rc = gen.main(argv)
    err = capsys.readouterr().err
    assert rc == 3
    line = [x for x in err.splitlines() if "disk full" in x]
    assert len(line) == 1 and "Traceback" not in err
    assert (
        f"disk full writing {out}/sub_math/" in line[0] and "free): free space and rerun" in line[0]
    )
    assert 0 < len(samples(out)) < 3 * 2 * 2
    assert not [p for p in out.rglob("*") if p.name.endswith(".tmp")]
    monkeypatch.setattr(jsonl.os, "write", real_write)
    assert gen.main(argv) == 0 and len(samples(out)) == 3 * 2 * 2  # space freed: the rest


def test_append_that_does_not_fit_is_taken_back(tmp_path, monkeypatch):
    from sftkit.common import jsonl

    log = tmp_path / "v.jsonl"
    jsonl.append_jsonl(log, {"a": 1})
    real_write = os.write

    def write(fd, data):  # half the line fits, then the disk is full
        if len(data) > 10:
            return real_write(fd, data[: len(data) // 2])
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(jsonl.os, "write", write)
    with pytest.raises(OSError) as exc:
        jsonl.append_jsonl(log, {"b": "x" * 40})
    assert exc.value.errno == errno.ENOSPC and exc.value.filename == str(log)
    monkeypatch.setattr(jsonl.os, "write", real_write)
    assert log.read_text() == '{"a":1}\n'  # no torn line for the next append to run into


# --- the same on a real 1 MiB filesystem (tmpfs in a user and mount namespace of our own) ---

TINY_FS_DRIVER = r"""
import json, os, shutil, subprocess, sys
seed, mnt, result, *cmd = sys.argv[1:]
subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", mnt], check=True)
out = os.path.join(mnt, "out")
shutil.copytree(seed, out)
filler = os.path.join(mnt, "filler")
fd = os.open(filler, os.O_WRONLY | os.O_CREAT)  # fill the filesystem, then free a few pages
try:
    while os.write(fd, b"\0" * 4096):
        pass
except OSError:
    pass
os.close(fd)
os.truncate(filler, max(0, os.path.getsize(filler) - 3 * 4096))
runs = []
for _ in range(2):
    p = subprocess.run([*cmd, "--output_dir", out], capture_output=True, text=True, timeout=120)
    runs.append({"rc": p.returncode, "stdout": p.stdout, "stderr": p.stderr})
    shutil.copytree(out, os.path.join(result, f"after{len(runs)}"))
    os.unlink(filler) if os.path.exists(filler) else None  # space freed for the second run
with open(os.path.join(result, "runs.json"), "w") as fh:
    json.dump(runs, fh)
"""


def on_tiny_fs(tmp_path: Path, seed: Path, cmd: list[str]) -> list[dict]:
    """Run cmd twice on a copy of seed in a 1 MiB tmpfs: first nearly full, then with the space
    freed. Returns each run's rc and output; the folder after run i is tmp_path/"result"/after<i>."""
    mnt, result = tmp_path / "mnt", tmp_path / "result"
    mnt.mkdir()
    result.mkdir()
    driver = tmp_path / "driver.py"
    driver.write_text(TINY_FS_DRIVER)
    argv = ["unshare", "--user", "--map-root-user", "--mount", sys.executable, str(driver)]
    argv += [str(seed), str(mnt), str(result), *cmd]
    try:
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=300, env=gen_env())
    except FileNotFoundError:
        pytest.skip("no unshare here")
    if proc.returncode and "mount" in proc.stderr:
        pytest.skip(f"cannot mount a tmpfs in a namespace here: {proc.stderr.strip()[-200:]}")
    assert proc.returncode == 0, proc.stderr
    return json.loads((result / "runs.json").read_text())


def test_watcher_on_a_full_disk_stops_with_one_line_and_regrades_after(tmp_path):
    from test_watcher import assert_graded_exactly, populate

    seed = tmp_path / "seed"
    expected = populate(seed, problems=8, samples=4)
    cmd = [sys.executable, str(ROOT / "validate_watcher.py"), "--once", "--interval", "0.2"]
    first, second = on_tiny_fs(tmp_path, seed, cmd)
    assert first["rc"] == 3, first
    lines = [x for x in first["stderr"].splitlines() if "disk full" in x]
    assert len(lines) == 1 and "Traceback" not in first["stderr"] + first["stdout"]
    assert "free): free space and rerun the same command" in lines[0]
    after1 = tmp_path / "result" / "after1"
    for log in after1.rglob("*_verdicts.jsonl"):  # no torn line
        assert all(json.loads(x) for x in log.read_text().splitlines())
    assert second["rc"] == 0, second
    # Every file graded exactly once over the two runs: what did not fit was graded again.
    assert_graded_exactly(tmp_path / "result" / "after2", expected)


def test_generator_on_a_full_disk_stops_with_one_line_and_resumes_after(tmp_path, mock_server):
    srv = mock_server(p_correct=1.0)
    seed = tmp_path / "seed"
    seed.mkdir()
    argv = args(srv, tmp_path / "unused", subset(tmp_path, 4), "--n", "4")
    argv = [a for a in argv if a != str(tmp_path / "unused")]
    argv.remove("--output_dir")
    first, second = on_tiny_fs(
        tmp_path, seed, [sys.executable, str(ROOT / "generate_sft_data.py"), *argv]
    )
    assert first["rc"] == 3, first
    lines = [x for x in first["stderr"].splitlines() if "disk full" in x]
    assert len(lines) == 1 and "Traceback" not in first["stderr"] + first["stdout"]
    kept = samples(tmp_path / "result" / "after1")
    assert 0 < len(kept) < 4 * 2 * 4
    for path in kept:  # whole, never torn
        assert json.loads(path.read_text(encoding="utf-8"))["meta"]["generation_id"]
    assert second["rc"] == 0, second
    assert len(samples(tmp_path / "result" / "after2")) == 4 * 2 * 4


# --- the report reads the figures from the verdict lines, not a million sample files ---


def test_report_counts_from_verdict_lines_without_reading_samples(tmp_path, monkeypatch):
    from conftest import write_sample

    from sftkit.output import layout, report

    out = tmp_path / "out"
    for p in range(3):
        for s in range(4):
            write_sample(
                out, "src", SUBJECTIVE, p, s, correct=None, answer=3 if s % 2 else 4,
                truncated=s == 3, reasoning="r" if p else None, usage=(10 + p, 100 * s + 1),
            )  # fmt: skip
    proc = subprocess.run(
        [sys.executable, str(ROOT / "validate_watcher.py"), "--output_dir", str(out), "--once"],
        capture_output=True, text=True, env=gen_env(), timeout=120,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    lines = [json.loads(x) for x in (out / "src" / "subjectives_verdicts.jsonl").open()]
    assert all(
        {"prompt_tokens", "completion_tokens", "truncated", "with_reasoning"} <= x.keys()
        for x in lines
    )
    expected = report.build_report(out)["rows"][0]

    def no_reading(path):
        raise AssertionError(f"the report read {path}")

    monkeypatch.setattr(layout, "read_sample", no_reading)
    monkeypatch.setattr(report.layout, "read_sample", no_reading)
    row = report.build_report(out)["rows"][0]
    for key in ("prompt_tokens", "completion_tokens", "truncations", "with_reasoning", "correct"):
        assert row[key] == expected[key], key
    assert (row["prompt_tokens"], row["completion_tokens"]) == (4 * (10 + 11 + 12), 3 * 604)
    assert (row["truncations"], row["with_reasoning"]) == (3, 8)


def test_verdict_log_reads_what_orjson_refuses(tmp_path):
    """The fast parser refuses integers beyond 64 bits and NaN; such a line is still read."""
    from sftkit.output import layout

    log = tmp_path / "multiples_verdicts.jsonl"
    log.write_text(
        '{"file":"0_0.jsonl","is_correct":true,"ground_truth":123456789012345678901234567890}\n'
        '{"file":"0_1.jsonl","is_correct":false,"score":NaN}\n'
        '{"file":"0_2.jsonl","is_correct":true}\n'
        '{"file":"0_3.js\n',
        encoding="utf-8",
    )
    for fast in (False, True):
        lines = list(layout.verdict_lines(log, fast=fast))
        assert [n for n, line in lines if line is None] == [4]
        names = [line["file"] for _, line in lines if line]
        assert names == ["0_0.jsonl", "0_1.jsonl", "0_2.jsonl"]
    assert list(layout.verdict_lines(log))[0][1]["ground_truth"] == 123456789012345678901234567890
    index, bad = layout.read_verdict_index(log)
    assert bad == [4] and index.get("0_0.jsonl").correct and not index.get("0_1.jsonl").correct


EARLY_CTRL_C = """
import os, runpy, signal, sys
def hook(event, args):  # Ctrl-C arrives while the script is still importing its libraries
    if event == "import" and args[0] == "sftkit.output.layout":
        os.kill(os.getpid(), signal.SIGINT)
sys.addaudithook(hook)
sys.argv = [sys.argv[1], *sys.argv[2:]]
runpy.run_path(sys.argv[0], run_name="__main__")
"""


@pytest.mark.parametrize(
    "script, args",
    [
        ("generate_sft_data.py", ["--merge_only"]),
        ("validate_watcher.py", ["--once"]),
        ("validate_sft_data.py", []),
    ],
)
def test_ctrl_c_while_a_script_loads_ends_in_one_line(tmp_path, script, args):
    out = tmp_path / "out"
    out.mkdir()
    res = subprocess.run(
        [sys.executable, "-c", EARLY_CTRL_C, str(ROOT / script), "--output_dir", str(out), *args],
        capture_output=True, text=True, cwd=ROOT, timeout=120,
    )  # fmt: skip
    assert res.returncode == 130, res.stderr
    assert "Traceback" not in res.stderr + res.stdout
    assert res.stderr.strip() == "interrupted by SIGINT while starting: nothing was written"
    assert list(out.iterdir()) == []  # nothing written
