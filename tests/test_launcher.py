"""run_sft_pipeline.sh driven for real: tmux (detached, private socket) and --no-tmux against the
stand-in endpoint; verdicts, _validated, exit codes, the stop-file handshake, session refusal."""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from urllib.parse import urlparse

import pytest
from conftest import write_sample

pytestmark = pytest.mark.e2e  # runs the CLIs, servers or worker processes for real

REPO = Path(__file__).resolve().parents[1]
LAUNCHER = str(REPO / "run_sft_pipeline.sh")
BASH = shutil.which("bash")
SETTINGS = (
    "DATA_DIR OUTPUT_DIR N WORKER FORMAT REASONING BASE_URL MODEL INPUT_FILE TMUX_SESSION "
    "INTERVAL STOP_DELAY TMUX TMUX_PANE"
).split()
FAST = ["--interval", "0.3", "--stop_delay", "0.2"]
UNREACHABLE = "http://127.0.0.1:9/v1"  # discard port: nothing listens, connect is refused


@pytest.fixture
def tmux_env():
    """Environment with a private tmux server (killed at teardown) and no leaked settings."""
    sock = tempfile.mkdtemp(prefix="tmx")  # short: tmux socket paths have a length limit
    env = {k: v for k, v in os.environ.items() if k not in SETTINGS}
    env.update(TMUX_TMPDIR=sock, PYTHON=sys.executable)
    yield env
    subprocess.run(["tmux", "kill-server"], env=env, capture_output=True)
    shutil.rmtree(sock, ignore_errors=True)


def launch(env: dict, *args: str, timeout: float = 90) -> subprocess.CompletedProcess:
    # stdin is not a terminal here, as in CI: the launcher must not attach.
    return subprocess.run(
        [BASH, LAUNCHER, *args],
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def small_input(tmp_path: Path, problems: int = 4) -> Path:
    lines = (REPO / "data" / "sample_math.jsonl").read_text(encoding="utf-8").splitlines()
    path = tmp_path / "small_math.jsonl"
    path.write_text("\n".join(lines[:problems]) + "\n", encoding="utf-8")
    return path


def session_exists(env: dict, name: str) -> bool:
    res = subprocess.run(["tmux", "has-session", "-t", f"={name}"], env=env, capture_output=True)
    return res.returncode == 0


def demo_versions() -> int:
    """Versions the demo asks of the sample data (--versions auto): two for a problem with
    choices, one for a problem without."""
    from sftkit.inputs.problems import build_versions, load_problems

    return sum(
        len(build_versions(p, "auto")) for p in load_problems(REPO / "data" / "sample_math.jsonl")
    )


def assert_each_sample_graded_once(out: Path, source: str) -> tuple[int, int]:
    """Every sample file has exactly one verdict and _validated holds exactly the correct ones.

    Returns (samples, correct).
    """
    samples = correct = 0
    for type_ in ("subjectives", "multiples"):
        names = {p.name for p in (out / source / type_).glob("*.jsonl")}
        assert names, f"no samples in {source}/{type_}"
        log = out / source / f"{type_}_verdicts.jsonl"
        verdicts = [json.loads(line) for line in log.read_text(encoding="utf-8").splitlines()]
        assert sorted(v["file"] for v in verdicts) == sorted(names)
        good = {v["file"] for v in verdicts if v["is_correct"]}
        assert {p.name for p in (out / source / f"{type_}_validated").glob("*.jsonl")} == good
        samples += len(names)
        correct += len(good)
    return samples, correct


def test_no_tmux_runs_generator_then_watcher_then_merge(tmp_path, tmux_env, mock_server):
    srv = mock_server(p_correct=0.6)
    out = tmp_path / "out dir"
    res = launch(
        tmux_env,
        "--no-tmux",
        "--input_file",
        str(small_input(tmp_path)),
        "--data_dir",
        str(REPO / "data"),
        "--output_dir",
        str(out),
        "--n",
        "3",
        "--base_url",
        srv.base_url,
        *FAST,
    )
    assert res.returncode == 0, res.stdout + res.stderr
    samples, correct = assert_each_sample_graded_once(out, "small_math")
    assert samples == 4 * 2 * 3
    merged = (out / "merged" / "sft_math_all_messages.jsonl").read_text().splitlines()
    assert 0 < len(merged) <= correct
    assert (out / ".watcher_stop").exists()
    assert [(out / f".{s}.rc").read_text().strip() for s in ("generator", "watcher", "merge")] == [
        "0",
        "0",
        "0",
    ]
    # The summary's one wording test (its codes are the .rc files above).
    assert "generator: exit code 0" in res.stdout and f"{out}/merged/" in res.stdout
    # One report, after the merge: the generator no longer prints an interim one.
    assert res.stdout.count("Problems with zero correct") == 1
    assert "Problems with zero correct" not in (out / ".generator.log").read_text()


def test_tmux_demo_detached_waits_for_both_panes_and_reports(tmp_path, tmux_env):
    out = tmp_path / "demo out"
    session = f"sft_test_{uuid.uuid4().hex[:8]}"
    res = launch(
        tmux_env, "--demo", "--n", "1", "--session", session, "--output_dir", str(out), *FAST
    )
    assert res.returncode == 0, res.stdout + res.stderr
    assert "no terminal: not attaching" in res.stdout
    samples, _ = assert_each_sample_graded_once(out, "sample_math")
    assert samples == demo_versions()
    assert (out / "merged" / "sft_math_all_messages.jsonl").exists()
    assert json.loads((out / ".status.json").read_text())["stopped"] is True
    assert json.loads((out / "report.json").read_text())["totals"]["samples"] == samples
    # Printed once both panes finished: the summary kept for a user who detached.
    assert (out / "summary.txt").read_text(encoding="utf-8").strip() in res.stdout
    assert not session_exists(tmux_env, session)  # finished and cleaned up
    # The demo endpoint (started in the generator pane) was stopped when the generator ended.
    url = re.search(r"on (http://127\.0\.0\.1:\d+/v1)", (out / ".generator.log").read_text())[1]
    with pytest.raises(OSError):
        socket.create_connection((urlparse(url).hostname, urlparse(url).port), timeout=2).close()


@pytest.mark.parametrize("mode", ["tmux", "--no-tmux"])
def test_generator_failure_still_stops_the_watcher(tmp_path, tmux_env, mode):
    out = tmp_path / "out"
    write_sample(out, "src", "multiples", 0, 0, correct=None, answer=3)  # from an earlier run
    args = ["--output_dir", str(out), "--base_url", UNREACHABLE, "--n", "1", *FAST]
    args += ["--data_dir", str(REPO / "data")]
    args += ["--session", f"sft_fail_{uuid.uuid4().hex[:8]}"] if mode == "tmux" else [mode]
    res = launch(
        tmux_env, *args, "--", "--max_retries", "0", "--timeout", "2", "--api_key", "sk-X1"
    )
    assert res.returncode == 2, res.stdout + res.stderr  # the generator's preflight failure
    assert (out / ".generator.rc").read_text().strip() == "2"
    assert (out / ".watcher.rc").read_text().strip() == "0"  # it saw the stop file and finished
    assert (out / ".watcher_stop").exists()
    # The command lines are logged (in the pane, for tmux) with the API key masked.
    assert "sk-X1" not in res.stdout + res.stderr + (out / ".generator.log").read_text()
    if mode == "--no-tmux":
        assert "--api_key ***" in res.stdout
    # The reason (from .generator.log) is in the summary, also when its tmux pane is gone now.
    summary = res.stdout[res.stdout.index("summary (output:") :]
    assert "cannot reach any endpoint" in summary
    verdicts = (out / "src" / "multiples_verdicts.jsonl").read_text().splitlines()
    assert len(verdicts) == 1  # what was already there still got graded


def test_refuses_a_running_session_and_restart_replaces_it(tmp_path, tmux_env):
    session = f"sft_busy_{uuid.uuid4().hex[:8]}"
    subprocess.run(
        ["tmux", "new-session", "-d", "-s", session, "sleep 300"], env=tmux_env, check=True
    )
    out = tmp_path / "out"
    args = ["--session", session, "--output_dir", str(out), "--base_url", UNREACHABLE, *FAST]
    args += ["--data_dir", str(REPO / "data")]
    res = launch(tmux_env, *args)
    assert res.returncode == 2
    assert f"tmux attach -t {session}" in res.stderr
    assert f"{LAUNCHER} --restart --session {session}" in res.stderr  # the exact command
    assert "--session NAME" in res.stderr  # a second pipeline beside the first
    assert session_exists(tmux_env, session), "a running job is never killed silently"
    assert not (out / ".generator.rc").exists()  # nothing was started

    res = launch(tmux_env, *args, "--restart", "--", "--max_retries", "0")
    assert "--restart: stopping the running tmux session" in res.stdout
    assert res.returncode == 2 and (out / ".generator.rc").read_text().strip() == "2"
    assert not session_exists(tmux_env, session)


def test_missing_tmux_names_no_tmux(tmp_path, tmux_env):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for tool in ("dirname", "basename", "mkdir", "rm", "cat", "tee", "sleep", "touch", "tail"):
        (bin_dir / tool).symlink_to(shutil.which(tool))
    env = dict(tmux_env, PATH=str(bin_dir))
    res = launch(env, "--output_dir", str(tmp_path / "out"))
    assert (
        res.returncode == 2 and "tmux is not installed" in res.stderr and "--no-tmux" in res.stderr
    )


def test_demo_without_tmux_runs_in_this_terminal(tmp_path, tmux_env):
    """The quick-start line must work on a fresh machine, where tmux is not installed yet."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    tools = ("dirname", "basename", "mkdir", "mktemp", "rm", "cat", "tee", "sleep", "touch", "tail")
    for tool in tools:
        (bin_dir / tool).symlink_to(shutil.which(tool))
    env = dict(tmux_env, PATH=str(bin_dir))
    out = tmp_path / "out"
    res = launch(env, "--demo", "--n", "1", "--output_dir", str(out), *FAST)
    assert res.returncode == 0, res.stdout + res.stderr
    assert "running the demo in this terminal (--no-tmux)" in res.stdout
    samples, correct = assert_each_sample_graded_once(out, "sample_math")
    assert samples == demo_versions()
    merged = (out / "merged" / "sft_math_all_messages.jsonl").read_text().splitlines()
    assert 0 < len(merged) <= correct


def test_validate_only_grades_existing_samples_and_merges(tmp_path, tmux_env):
    out = tmp_path / "out"
    for s in range(3):
        write_sample(out, "src", "subjectives", 0, s, correct=None, content=f"\\boxed{{{2 + s}}}")
    res = launch(tmux_env, "--validate_only", "--output_dir", str(out), *FAST)
    assert res.returncode == 0, res.stdout + res.stderr
    log = (out / "src" / "subjectives_verdicts.jsonl").read_text().splitlines()
    assert sorted(json.loads(v)["file"] for v in log) == ["0_0.jsonl", "0_1.jsonl", "0_2.jsonl"]
    assert [p.name for p in (out / "src" / "subjectives_validated").glob("*.jsonl")] == [
        "0_1.jsonl"
    ]
    assert len((out / "merged" / "sft_math_all_messages.jsonl").read_text().splitlines()) == 1
    assert not (out / ".generator.rc").exists()

    shutil.rmtree(out / "merged")
    res = launch(tmux_env, "--merge_only", "--output_dir", str(out), "--format", "alpaca")
    assert res.returncode == 0, res.stdout + res.stderr
    assert len((out / "merged" / "sft_math_all_alpaca.jsonl").read_text().splitlines()) == 1
    assert (out / ".merge.rc").read_text().strip() == "0"
    assert not (out / ".watcher.rc").exists()  # reset by the launch: the watcher did not run


def test_generate_only_writes_samples_and_touches_the_stop_file(tmp_path, tmux_env, mock_server):
    srv = mock_server()
    out = tmp_path / "out"
    args = [
        "--input_file",
        str(small_input(tmp_path, problems=2)),
        "--data_dir",
        str(REPO / "data"),
    ]
    res = launch(tmux_env, "--generate_only", *args, "--output_dir", str(out), "--n", "1",
                 "--base_url", srv.base_url, *FAST)  # fmt: skip
    assert res.returncode == 0, res.stdout + res.stderr
    assert len(list(out.glob("small_math/*/*.jsonl"))) == 2 * 2
    assert (out / ".watcher_stop").exists()  # a watcher running elsewhere now finishes
    assert not list(out.glob("small_math/*_verdicts.jsonl"))
    assert (out / ".generator.rc").read_text().strip() == "0"


@pytest.mark.parametrize(
    "args, env_extra, code, message",
    [
        (["-h"], {"N": "7", "OUTPUT_DIR": "/x y"}, 0, "N=7"),
        (["-h"], {"OUTPUT_DIR": "/x y"}, 0, "OUTPUT_DIR=/x y"),
        (["--n", "many"], {}, 2, "argument --n: invalid int value: 'many'"),
        (["--bogus"], {}, 2, "unknown argument: --bogus"),
        (["--output_dir"], {}, 2, "--output_dir needs a value"),
        (["--temperature", "0.6"], {}, 2, "generator flags go after --: "),
    ],
)
def test_settings_from_env_and_flags(tmux_env, args, env_extra, code, message):
    res = launch(dict(tmux_env, **env_extra), *args)
    assert res.returncode == code
    assert message in res.stdout + res.stderr


@pytest.mark.skipif(shutil.which("script") is None, reason="needs util-linux script for a pty")
def test_interactive_terminal_attaches_then_prints_the_summary(tmp_path, tmux_env):
    """Under a pseudo-terminal the launcher attaches; when both panes finish it detaches itself."""
    out = tmp_path / "out"
    session = f"sft_tty_{uuid.uuid4().hex[:8]}"
    cmd = [BASH, LAUNCHER, "--demo", "--n", "1", "--session", session, "--output_dir", str(out)]
    cmd += FAST
    typescript = tmp_path / "typescript"
    env = dict(tmux_env, TERM="xterm")
    res = subprocess.run(
        ["script", "-qec", shlex.join(cmd), str(typescript)],
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        timeout=90,
    )
    screen = typescript.read_bytes().decode("utf-8", "replace")
    assert res.returncode == 0, screen[-3000:]
    assert "attaching; Ctrl-B D detaches" in screen, screen
    # The panes' titles as tmux drew them, watcher left and generator right.
    assert (
        "watcher (validate_watcher.py)" in screen and "generator (generate_sft_data.py)" in screen
    )
    assert (out / ".merge.rc").read_text().strip() == "0" and not session_exists(tmux_env, session)
    assert_each_sample_graded_once(out, "sample_math")


def parent_pid(pid: int) -> int | None:
    try:
        return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
    except (OSError, ValueError, IndexError):
        return None  # gone meanwhile


def cmdline(pid: int) -> bytes:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return b""


def descendants(pid: int) -> list[int]:
    """Every process below pid, from /proc (no ps needed)."""
    children: dict[int | None, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            children.setdefault(parent_pid(int(entry.name)), []).append(int(entry.name))
    found, todo = [], [pid]
    while todo:
        for c in children.get(todo.pop(), []):
            found.append(c)
            todo.append(c)
    return found


def test_killed_watcher_then_validate_only_gives_identical_totals(tmp_path, tmux_env, mock_server):
    srv = mock_server(p_correct=0.5, latency=0.25)
    out = tmp_path / "out"
    session = f"sft_kill_{uuid.uuid4().hex[:8]}"
    args = ["--input_file", str(small_input(tmp_path)), "--data_dir", str(REPO / "data")]
    args += ["--output_dir", str(out), "--n", "3", "--base_url", srv.base_url, *FAST]
    proc = subprocess.Popen(
        [BASH, LAUNCHER, *args, "--session", session, "--", "--worker", "2", "--max_n", "1"],
        env=tmux_env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    logs = [out / "small_math" / f"{t}_verdicts.jsonl" for t in ("subjectives", "multiples")]
    deadline = time.monotonic() + 60
    while not any(p.exists() and p.stat().st_size for p in logs):
        assert time.monotonic() < deadline and proc.poll() is None, "no verdict appeared"
        time.sleep(0.1)
    panes = subprocess.run(
        ["tmux", "list-panes", "-t", f"={session}", "-F", "#{pane_pid}"],
        env=tmux_env, capture_output=True, text=True, check=True,
    ).stdout.split()  # fmt: skip
    watcher = [
        pid
        for pane in map(int, panes)
        for pid in descendants(pane)
        if b"validate_watcher.py\0" in cmdline(pid) and b"--stop_file" in cmdline(pid)
    ]
    main = [pid for pid in watcher if parent_pid(pid) not in watcher]  # not a pool worker
    assert len(main) == 1, watcher
    # A finished pane says how to leave it when someone attaches later.
    fmt = subprocess.run(
        ["tmux", "show-options", "-wv", "-t", f"={session}:pipeline", "remain-on-exit-format"],
        env=tmux_env, capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    assert "Ctrl-B D detaches" in fmt and f"tmux kill-session -t {session}" in fmt
    os.kill(main[0], signal.SIGKILL)
    stdout, _ = proc.communicate(timeout=90)
    assert proc.returncode == 128 + signal.SIGKILL, stdout  # the watcher's failure is reported
    assert (out / ".watcher.rc").read_text().strip() == str(128 + signal.SIGKILL)
    assert (out / ".generator.rc").read_text().strip() == "0"

    res = launch(tmux_env, "--validate_only", "--output_dir", str(out), *FAST)
    assert res.returncode == 0, res.stdout + res.stderr
    samples, correct = assert_each_sample_graded_once(out, "small_math")
    assert samples == 4 * 2 * 3
    status = json.loads((out / ".status.json").read_text())
    # The same totals as grading everything from scratch.
    fresh = tmp_path / "fresh"
    shutil.copytree(out, fresh)
    cmd = [sys.executable, str(REPO / "validate_watcher.py"), "--output_dir", str(fresh)]
    subprocess.run([*cmd, "--once", "--rescan"], check=True, capture_output=True, env=tmux_env)
    again = json.loads((fresh / ".status.json").read_text())
    for key in ("graded", "correct", "incorrect", "no_box", "errors"):
        assert status[key] == again[key], key
    assert (status["graded"], status["correct"]) == (samples, correct)


# --- settings are checked before anything runs ------------------------------------------------


@pytest.mark.parametrize(
    "mode", ["tmux", "--no-tmux", "--generate_only", "--validate_only", "--merge_only"]
)
@pytest.mark.parametrize(
    "args, message",
    [
        (["--n", "0"], "--n: must be at least 1"),
        (["--worker", "0"], "--requests_in_flight: must be at least 1"),
        (["--format", "bogus"], "argument --format: invalid choice: 'bogus'"),
        (["--reasoning", "bogus"], "argument --reasoning: invalid choice: 'bogus'"),
        (["--interval", "0"], "--interval must be > 0"),
        (["--stop_delay", "soon"], "--stop_delay / STOP_DELAY must be a number"),
        (["--", "--temperature", "hot"], "argument --temperature: invalid float value"),
    ],
)
def test_bad_settings_stop_before_anything_is_written(tmp_path, tmux_env, mode, args, message):
    out = tmp_path / "out"
    session = ["--session", f"sft_bad_{uuid.uuid4().hex[:8]}"] if mode == "tmux" else [mode]
    res = launch(tmux_env, *session, "--output_dir", str(out), "--data_dir", str(REPO / "data"),
                 "--base_url", UNREACHABLE, *args)  # fmt: skip
    text = res.stdout + res.stderr
    assert res.returncode == 2, text
    assert not out.exists(), "nothing is written for a run that cannot start"
    assert text.count("error:") == 1 and "usage:" not in text  # one clear message
    if mode == "--no-tmux":  # each message's one wording test; every mode refuses it (above)
        assert message in text
    if mode == "tmux":
        assert not session_exists(tmux_env, session[1])


def test_a_malformed_data_line_is_named_before_anything_runs(tmp_path, tmux_env):
    bad = tmp_path / "bad_math.jsonl"
    good = (REPO / "data" / "sample_math.jsonl").read_text(encoding="utf-8").splitlines()[0]
    bad.write_text(good + "\n{not json\n", encoding="utf-8")
    out = tmp_path / "out"
    res = launch(tmux_env, "--input_file", str(bad), "--output_dir", str(out),
                 "--session", f"sft_bad_{uuid.uuid4().hex[:8]}")  # fmt: skip
    assert res.returncode == 2 and f"{bad}:2:" in res.stderr
    assert not out.exists()


def test_demo_has_its_own_folder_and_refuses_flags_it_would_override(tmp_path, tmux_env):
    res = subprocess.run([BASH, LAUNCHER, "--demo", "--no-tmux", "--n", "1", *FAST], cwd=tmp_path,
                         env=tmux_env, stdin=subprocess.DEVNULL, capture_output=True, text=True,
                         timeout=120)  # fmt: skip
    assert res.returncode == 0, res.stdout + res.stderr
    assert (tmp_path / "sft_output_demo" / "merged" / "sft_math_all_messages.jsonl").exists()
    assert not (tmp_path / "sft_output").exists(), "demo samples never land in the real default"
    # --data_dir / --input_file are taken: the stand-in answers the user's own problems
    # (tests/test_inputs.py runs a demo on a folder of every shape).
    for flag, value in [("--model", "gpt-4o"), ("--base_url", UNREACHABLE)]:
        for args in ([flag, value], ["--", flag, value]):
            res = launch(
                tmux_env, "--demo", "--no-tmux", "--output_dir", str(tmp_path / "o"), *args
            )
            assert res.returncode == 2, (args, res.stdout + res.stderr)
            assert f"cannot take {flag}" in res.stderr
            assert not (tmp_path / "o").exists()


# --- what the operator sees -------------------------------------------------------------------


def progress_redraws(log: Path) -> int:
    """How many different states of the generator's progress bar the log shows."""
    text = log.read_text(encoding="utf-8", errors="replace")
    return len(set(re.findall(r"generate:\s+(\d+%\|[^|]*\|\s*\d+/\d+)", text)))


@pytest.mark.skipif(shutil.which("script") is None, reason="needs util-linux script for a pty")
@pytest.mark.parametrize("mode", ["tmux", "--no-tmux"])
def test_progress_bar_moves_every_second_and_is_logged(tmp_path, tmux_env, mock_server, mode):
    """The generator's output reaches the screen through a terminal, not a pipe, so tqdm
    redraws every half second; the log file gets the same redraws."""
    srv = mock_server(latency=0.4)
    out = tmp_path / "out"
    args = ["--input_file", str(small_input(tmp_path)), "--data_dir", str(REPO / "data"),
            "--output_dir", str(out), "--n", "4", "--base_url", srv.base_url, *FAST]  # fmt: skip
    args += ["--session", f"sft_bar_{uuid.uuid4().hex[:8]}"] if mode == "tmux" else [mode]
    cmd = shlex.join([BASH, LAUNCHER, *args, "--", "--worker", "2", "--max_n", "1"])
    # 32 samples, 2 in flight, 0.4 s each: about 6.4 s of generation.
    env = dict(tmux_env, TERM="xterm", TMUX="") if mode == "--no-tmux" else tmux_env
    if mode == "tmux":
        res = subprocess.run([BASH, "-c", cmd], env=env, stdin=subprocess.DEVNULL,
                             capture_output=True, timeout=120)  # fmt: skip
    else:
        res = subprocess.run(["script", "-qec", cmd, str(tmp_path / "typescript")], env=env,
                             stdin=subprocess.DEVNULL, capture_output=True, timeout=120)  # fmt: skip
    assert res.returncode == 0, res.stdout.decode()[-3000:]
    assert progress_redraws(out / ".generator.log") >= 5


def wait_for(predicate, timeout: float = 60, what: str = "") -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


@pytest.mark.parametrize("mode", ["tmux", "--no-tmux"])
def test_ctrl_c_ends_with_130_and_says_samples_are_kept(tmp_path, tmux_env, mock_server, mode):
    srv = mock_server(latency=0.3)
    out = tmp_path / "out"
    session = f"sft_int_{uuid.uuid4().hex[:8]}"
    args = ["--input_file", str(small_input(tmp_path)), "--data_dir", str(REPO / "data"),
            "--output_dir", str(out), "--n", "8", "--base_url", srv.base_url, *FAST]  # fmt: skip
    args += ["--session", session] if mode == "tmux" else [mode]
    proc = subprocess.Popen(
        [BASH, LAUNCHER, *args, "--", "--worker", "2", "--max_n", "1"],
        env=tmux_env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        text=True, start_new_session=True,
    )  # fmt: skip
    try:
        wait_for(lambda: len(list(out.glob("small_math/*/*.jsonl"))) >= 4, what="samples")
        if mode == "tmux":  # Ctrl-C typed in the generator pane
            subprocess.run(["tmux", "send-keys", "-t", f"={session}:pipeline.1", "C-c"],
                           env=tmux_env, check=True)  # fmt: skip
        else:  # Ctrl-C in a terminal reaches the whole foreground process group
            os.killpg(proc.pid, signal.SIGINT)
        stdout, _ = proc.communicate(timeout=90)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert proc.returncode == 130, stdout
    assert (out / ".generator.rc").read_text().strip() == "130"
    if mode == "--no-tmux":  # the message's one wording test (the state: the exit codes)
        assert "interrupted: stored samples are kept" in stdout[stdout.index("summary (output:") :]
    stored = len(list(out.glob("small_math/*/*.jsonl")))
    assert 4 <= stored < 4 * 2 * 8, "stopped part-way"
    assert (out / ".watcher_stop").exists()  # the watcher was still stopped and graded them
    assert (out / ".merge.rc").read_text().strip() == "0"


def test_a_folder_of_another_model_stops_the_launcher_before_any_step(tmp_path, tmux_env):
    out = tmp_path / "out"
    write_sample(out, "sample_math", "multiples", 0, 0, correct=True, model="demo-model")
    res = launch(tmux_env, "--no-tmux", "--output_dir", str(out), "--data_dir", str(REPO / "data"),
                 "--base_url", UNREACHABLE, "--model", "Qwen/Qwen3-8B")  # fmt: skip
    assert res.returncode == 2, res.stdout + res.stderr
    assert f"{out} holds samples of another model" in res.stderr and "--allow_mixed" in res.stderr
    assert not (out / ".generator.rc").exists() and not (out / "merged").exists()
