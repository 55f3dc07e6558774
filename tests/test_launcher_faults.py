"""The launcher when things go wrong (issue 23): the summary after failed samples, a run stopped
by SIGTERM, and the summary kept in <output>/summary.txt for a user who detached."""

from __future__ import annotations

import signal
import subprocess
import time
import uuid

import pytest
import test_launcher
from test_launcher import BASH, FAST, LAUNCHER, launch, small_input

pytestmark = pytest.mark.e2e  # runs the CLIs, servers or worker processes for real

tmux_env = test_launcher.tmux_env  # the fixture: a private tmux server, no leaked settings


def test_failed_samples_summary_says_this_runs_samples_are_merged(tmp_path, tmux_env, mock_server):
    srv = mock_server(p_correct=1.0, p_500=0.3)
    out = tmp_path / "out"
    res = launch(
        tmux_env, "--no-tmux", "--input_file", str(small_input(tmp_path)), "--output_dir",
        str(out), "--n", "3", "--base_url", srv.base_url, *FAST, "--", "--max_retries", "0",
    )  # fmt: skip
    assert res.returncode == 1, res.stdout + res.stderr
    assert (out / ".generator.rc").read_text().strip() == "1"
    assert "only samples stored before" not in res.stdout
    assert "some samples failed after retries" in res.stdout
    kept = (out / "summary.txt").read_text(encoding="utf-8")
    assert kept.strip() in res.stdout  # the summary printed is the one kept
    assert f"this summary is kept in {out}/summary.txt" in res.stdout


def test_sigterm_to_the_launcher_ends_the_run_like_ctrl_c(tmp_path, tmux_env, mock_server):
    srv = mock_server(p_correct=1.0, latency=0.3)
    out = tmp_path / "out"
    proc = subprocess.Popen(
        [BASH, LAUNCHER, "--no-tmux", "--input_file", str(small_input(tmp_path)),
         "--output_dir", str(out), "--n", "8", "--worker", "2", "--base_url", srv.base_url, *FAST],
        env=tmux_env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while len(list(out.glob("small_math/*/*.jsonl"))) < 2:
            assert time.monotonic() < deadline
            time.sleep(0.05)
        proc.send_signal(signal.SIGTERM)
        stdout, stderr = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, stdout + stderr
    assert "Traceback" not in stdout + stderr
    assert "generator: exit code 143" in stdout
    assert "interrupted by SIGTERM: stored samples are kept" in stdout
    assert not list(out.rglob("*.tmp"))
    assert (out / ".watcher_stop").exists()  # the stop file, as after Ctrl-C


def tmux(env, *args) -> subprocess.CompletedProcess:
    return subprocess.run(["tmux", *args], env=env, capture_output=True, text=True)


def test_a_detached_run_keeps_its_summary_in_the_output_folder(tmp_path, tmux_env):
    """The launcher is gone (detached, or its terminal closed) while the panes go on: the watcher
    pane writes summary.txt when it finishes, and the finished pane says where it is."""
    out = tmp_path / "out"
    session = f"sft_det_{uuid.uuid4().hex[:8]}"
    proc = subprocess.Popen(
        [BASH, LAUNCHER, "--demo", "--n", "1", "--session", session, "--output_dir", str(out),
         *FAST],
        env=tmux_env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 90  # a loaded machine: the demo's start takes its time
        while not all((out / f".{step}.log").exists() for step in ("generator", "watcher")):
            assert time.monotonic() < deadline  # both panes run their steps
            time.sleep(0.05)
        proc.kill()  # the launcher will print nothing
        proc.communicate(timeout=10)
        deadline = time.monotonic() + 180
        while "0" in tmux(tmux_env, "list-panes", "-s", "-t", f"={session}", "-F",
                          "#{pane_dead}").stdout.split():  # fmt: skip
            assert time.monotonic() < deadline
            time.sleep(0.2)
        kept = (out / "summary.txt").read_text(encoding="utf-8")
        codes = [(out / f".{s}.rc").read_text().strip() for s in ("generator", "watcher", "merge")]
        assert codes == ["0", "0", "0"]
        assert "merged training data:" in kept and "Problems with zero correct" in kept
        # The finished pane names the file: its own last line, and tmux's remain-on-exit line
        # under it once tmux has collected the exit status (it may draw that one late or, at
        # 109 columns, cut it short).
        pane = tmux(tmux_env, "capture-pane", "-p", "-t", f"={session}:pipeline.0").stdout
        assert f"this summary is kept in {out}/summary.txt" in pane.replace("\n", ""), pane
    finally:
        if proc.poll() is None:
            proc.kill()
        tmux(tmux_env, "kill-session", "-t", f"={session}")
