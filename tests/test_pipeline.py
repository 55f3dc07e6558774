"""sftkit.pipeline without tmux: the summary's pieces, exit codes, and a failed pane that waits."""

from __future__ import annotations

import os
import pty
import select
import sys
import time
from pathlib import Path

import pytest

from sftkit import pipeline

REPO = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize(
    "raw, lines",
    [
        (b"gen:  10%|#  | 1/9\rgen: 100%|###| 9/9\r\nerror: x\n", ["error: x"]),
        (b"\x1b[1mbold\x1b[0m\r\n", ["bold"]),
        (b"half\rwhole line\n\n", ["whole line"]),
    ],
)
def test_screen_lines_drop_redraws_and_colours(raw, lines):
    assert pipeline.screen_lines(raw) == lines


def test_error_lines_prefer_what_went_wrong(tmp_path):
    log = tmp_path / ".generator.log"
    log.write_bytes(b"INFO starting\r\nerror: data/x_math.jsonl:3: not JSON\r\nbye\r\n")
    assert pipeline.error_lines(log) == ["error: data/x_math.jsonl:3: not JSON"]
    log.write_bytes(
        b"x\nerror: first\nok\nerror: folder holds another run:\n  model m\n  ways out\n"
    )
    assert pipeline.error_lines(log, most=4) == [
        "error: first", "error: folder holds another run:", "  model m", "  ways out"
    ]  # fmt: skip
    log.write_bytes(b"one\ntwo\n")
    assert pipeline.error_lines(log) == ["one", "two"]  # nothing says error: the last lines
    assert pipeline.error_lines(tmp_path / "missing.log") == []


@pytest.mark.parametrize(
    "codes, interrupted, expected",
    [
        ({"generator": 0, "watcher": 0, "merge": 0}, False, 0),
        ({"generator": 1, "watcher": 0, "merge": 0}, False, 1),
        ({"generator": 0, "watcher": 137, "merge": 2}, False, 137),
        ({"generator": 130, "watcher": 0, "merge": 0}, False, 130),
        ({"generator": 2, "watcher": 130, "merge": 0}, False, 130),  # Ctrl-C wins
        ({"generator": 0, "watcher": 0, "merge": 0}, True, 130),
        ({"generator": None, "watcher": 0, "merge": 0}, False, 1),  # never said: failed
    ],
)
def test_exit_code(codes, interrupted, expected):
    assert pipeline.exit_code(codes, interrupted) == expected


def test_show_cmd_masks_the_key_and_quotes():
    assert pipeline.show_cmd(["g.py", "--api_key", "sk-1", "a b", "--api_key=sk-2"]) == (
        "g.py --api_key *** 'a b' --api_key=***"
    )


def settings_env(out: Path, **overrides) -> dict:
    env = dict(
        os.environ,
        DATA_DIR=str(REPO / "data"), INPUT_FILE="", OUTPUT_DIR=str(out), N="1", WORKER="2",
        FORMAT="messages", REASONING="think_tags", BASE_URL="http://127.0.0.1:9/v1", MODEL="",
        TMUX_SESSION="t", INTERVAL="0.3", STOP_DELAY="0", PYTHON=sys.executable, DEMO="0",
        PYTHONPATH=str(REPO),
    )  # fmt: skip
    env.update(overrides)
    return env


def test_settings_come_from_the_environment(tmp_path):
    env = settings_env(tmp_path / "o", N="7", DEMO="1")
    s = pipeline.Settings.from_env(env, extra=("--seed", "1"))
    assert (s.n, s.demo, s.extra) == ("7", True, ("--seed", "1"))
    del env["WORKER"]
    with pytest.raises(pipeline.SettingsError, match="WORKER is not set"):
        pipeline.Settings.from_env(env)


def test_the_demo_writes_to_its_own_default_folder(tmp_path):
    s = pipeline.Settings.from_env(
        settings_env(Path("sft_output"), DEMO="1", BASE_URL="", DATA_DIR="data")
    )
    plan = pipeline.plan(s, "no_tmux", load_data=False)
    assert plan.out == Path("sft_output_demo")
    assert ["--model", "demo-model"] == list(plan.gen_args[plan.gen_args.index("--model") :][:2])


def read_until(fd: int, needle: bytes, timeout: float = 60) -> bytes:
    seen = b""
    deadline = time.monotonic() + timeout
    while needle not in seen:
        assert time.monotonic() < deadline, seen.decode(errors="replace")[-2000:]
        if select.select([fd], [], [], 0.2)[0]:
            try:
                seen += os.read(fd, 4096)
            except OSError:
                break
    return seen


def test_a_failed_pane_shows_why_and_waits_for_enter(tmp_path):
    """In a pane (a terminal), a failed step's reason stays on screen until a key is pressed."""
    out = tmp_path / "out"
    out.mkdir()
    env = settings_env(out)
    env.pop("TMUX_PANE", None)
    pid, fd = pty.fork()
    if pid == 0:  # the child: a pane running the generator against a closed port
        os.chdir(REPO)
        os.execvpe(sys.executable, [sys.executable, "-m", "sftkit.pipeline", "pane", "generator",
                                    "--", "--max_retries", "0", "--timeout", "2"], env)  # fmt: skip
    try:
        seen = read_until(fd, b"press Enter to close this pane")
        assert b"generator failed with exit code 2" in seen
        assert b"cannot reach any endpoint" in seen  # the reason, not only the code
        assert (out / ".watcher_stop").exists()  # the watcher beside it was still told to stop
        time.sleep(1.0)
        assert os.waitpid(pid, os.WNOHANG) == (0, 0), "the pane must wait for a key"
        os.write(fd, b"\n")
        _, status = os.waitpid(pid, 0)
        assert os.waitstatus_to_exitcode(status) == 2
    finally:
        try:
            os.kill(pid, 9)
        except ProcessLookupError:
            pass
        os.close(fd)
