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
from sftkit.settings import SettingsError, parse_settings

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
    # A table's "errors" column is not an error line; the log's end is shown instead.
    log.write_bytes(b"source type files correct errors\nTOTAL x 3 2 0\n")
    assert pipeline.error_lines(log, most=1) == ["TOTAL x 3 2 0"]
    assert pipeline.error_lines(tmp_path / "missing.log") == []


def test_a_stopped_step_is_named_as_stopped_without_a_log_excerpt(tmp_path, capsys):
    """Ctrl-C while the watcher still grades: its log ends in a table, not an error."""
    from types import SimpleNamespace

    from sftkit.output import layout
    from sftkit.pipeline_summary import summary

    for step, code in (("generator", 0), ("watcher", 130)):
        layout.step_rc(tmp_path, step).write_text(f"{code}\n")
    layout.step_log(tmp_path, "watcher").write_text("source type files errors\nTOTAL 3 0\n")
    plan = SimpleNamespace(out=tmp_path, fmt="messages")
    assert summary(plan, ("generator", "watcher"), show_report=False) == 130
    kept = layout.summary_file(tmp_path).read_text(encoding="utf-8")
    assert "watcher: exit code 130 (stopped by SIGINT)" in kept
    assert "TOTAL 3 0" not in kept and "whole output" not in kept


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


def settings(out: Path, *argv: str, env: dict | None = None):
    """The launcher's settings as run_sft_pipeline.sh would hand them over."""
    base = ["--data_dir", str(REPO / "data"), "--output_dir", str(out), "--n", "1"]
    base += ["--base_url", "http://127.0.0.1:9/v1", "--interval", "0.3", "--stop_delay", "0"]
    return parse_settings([*base, *argv], env or {})


@pytest.mark.parametrize(
    "argv, env, expected",
    [
        ([], {"N": "7"}, {"n": "7"}),  # the environment variable of the setting
        (["--n", "8"], {"N": "7"}, {"n": "8"}),  # a flag beats it
        ([], {"N": ""}, {"n": None}),  # empty is unset: the generator's default
        (["--worker", "3"], {}, {"requests_in_flight": "3"}),  # the old name
        (["--requests-in-flight=3"], {}, {"requests_in_flight": "3"}),
        (["--no-tmux", "--merge_only"], {}, {"mode": "merge_only"}),  # the last mode wins
        (["--demo", "--", "--seed", "1"], {}, {"demo": True, "extra": ("--seed", "1")}),
        (["--session", "s"], {"TMUX_SESSION": "t"}, {"session": "s"}),
        ([], {"TMUX_SESSION": "t"}, {"session": "t"}),
    ],
)
def test_settings_are_parsed_once_from_flags_then_environment(argv, env, expected):
    s = parse_settings(argv, env)
    assert {k: getattr(s, k) for k in expected} == expected


def test_a_generator_flag_given_to_the_launcher_is_named():
    with pytest.raises(SettingsError) as exc:
        parse_settings(["--n", "2", "--temperature", "0.6"], {})
    assert str(exc.value) == (
        "unknown argument: --temperature is a generator flag; generator flags go after --: "
        "run_sft_pipeline.sh [settings] -- --temperature 0.6"
    )


def test_the_plan_passes_only_given_settings_and_round_trips(tmp_path):
    plan = pipeline.plan(settings(tmp_path / "o", "--", "--seed", "1"), load_data=False)
    assert plan.gen_args[:4] == ("--data_dir", str(REPO / "data"), "--output_dir", str(plan.out))
    assert "--format" not in plan.gen_args  # not given: the generator's default, declared once
    assert plan.gen_args[-3:] == ("--no_merge", "--seed", "1") and plan.fmt == "messages"
    pipeline.reset(plan)
    assert pipeline.Plan.load(plan.save()) == plan


def test_the_demo_writes_to_its_own_default_folder(tmp_path):
    s = parse_settings(["--demo", "--no-tmux", "--data_dir", "data"], {})  # the default: fine
    plan = pipeline.plan(s, load_data=False)
    assert plan.out == Path("sft_output_demo")
    assert ["--model", "demo-model"] == list(plan.gen_args[plan.gen_args.index("--model") :][:2])
    assert "--base_url" not in plan.gen_args  # the stand-in's URL is added when it runs


def wait_for(predicate, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def blocked_on_terminal(pid: int) -> bool:
    """The process sleeps in a terminal read (wchan wait_woken / n_tty_read; where the kernel
    hides wchan, sleeping at all)."""
    state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    wchan = Path(f"/proc/{pid}/wchan").read_text().strip()
    return state == "S" and wchan in ("wait_woken", "n_tty_read", "0", "")


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


@pytest.mark.e2e
def test_a_failed_pane_shows_why_and_waits_for_enter(tmp_path):
    """In a pane (a terminal), a failed step's reason stays on screen until a key is pressed."""
    out = tmp_path / "out"
    plan = pipeline.plan(settings(out, "--", "--max_retries", "0", "--timeout", "2"), False)
    pipeline.reset(plan)
    plan_file = plan.save()
    env = {k: v for k, v in os.environ.items() if k != "TMUX_PANE"}
    env["PYTHONPATH"] = str(REPO)
    pid, fd = pty.fork()
    if pid == 0:  # the child: a pane running the generator against a closed port
        os.chdir(REPO)
        os.execvpe(sys.executable, [sys.executable, "-m", "sftkit.pipeline", "pane", "generator",
                                    "--plan", str(plan_file)], env)  # fmt: skip
    try:
        seen = read_until(fd, b"press Enter to close this pane")
        assert b"generator failed with exit code 2" in seen
        assert b"cannot reach any endpoint" in seen  # the reason, not only the code
        assert (out / ".watcher_stop").exists()  # the watcher beside it was still told to stop
        # Blocked reading its terminal (the kernel says so), not exited: it waits for a key.
        wait_for(lambda: blocked_on_terminal(pid))
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


def test_the_merge_step_knows_the_endpoint_and_the_curation_flags(tmp_path):
    # The judge's default endpoint is --base_url; filters and the judge ride along after --.
    extra = ("--filters", "hedged", "--pass_rate", "0.1,0.9", "--judge_model", "m")
    plan = pipeline.plan(settings(tmp_path / "o", "--", *extra), load_data=False)
    args = plan.merge_args
    assert args[args.index("--base_url") + 1] == "http://127.0.0.1:9/v1"
    assert args[-len(extra) :] == extra and args[0] == "--merge_only"
