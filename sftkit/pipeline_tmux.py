"""The tmux side of the launcher: is the session there, have its panes exited, one pane's steps,
and the end (`finish`: the report and the summary once both panes wrote their exit codes).

run_sft_pipeline.sh opens the panes; each runs `python -m sftkit.pipeline pane ROLE --plan FILE`.

Usage:
    panes_exited("sft_pipeline")   # True when every pane's program exited or the session is gone
    pane(Plan.load(path), "watcher")  # the watcher and the merge, then the summary
"""

from __future__ import annotations

import contextlib
import os
import shlex
import subprocess
import sys
import time

from sftkit.output import layout
from sftkit.pipeline_plan import PANES, STEPS, Plan
from sftkit.pipeline_run import run_steps
from sftkit.pipeline_steps import Interrupts, say
from sftkit.pipeline_summary import error_lines, exit_code, read_rc, summary
from sftkit.settings import Settings, SettingsError


def _tmux(*args: str) -> str | None:
    """A tmux query's output, or None when the session (or tmux) is gone."""
    res = subprocess.run(["tmux", *args], capture_output=True, text=True, check=False)
    return res.stdout if res.returncode == 0 else None


def panes_exited(session: str) -> bool:
    """True when every pane's program has exited (remain-on-exit keeps them) or the session
    is gone."""
    dead = _tmux("list-panes", "-s", "-t", f"={session}", "-F", "#{pane_dead}")
    return dead is None or "0" not in dead.split()


def wait_for_panes(plan_: Plan, until_exited: bool = False, poll: float = 1.0) -> None:
    """Until both panes wrote their last exit code (until_exited: until their programs exited,
    which a failed pane does after Enter). A generator pane killed outright never touched the
    stop file: touch it, or the watcher would wait for ever."""
    session = plan_.settings.session
    last = [layout.step_rc(plan_.out, "generator"), layout.step_rc(plan_.out, "merge")]
    while not panes_exited(session):
        if not until_exited and all(p.exists() and p.stat().st_size for p in last):
            return
        generator = _tmux("display-message", "-p", "-t", f"={session}:pipeline.1", "#{pane_dead}")
        if (generator or "").strip() == "1" and not plan_.stop_file.exists():
            say("the generator pane ended without the stop file; touching it")
            plan_.stop_file.touch()
        time.sleep(poll)


def pane(plan_: Plan, role: str) -> int:
    """One tmux pane's steps. A failed pane waits for Enter so its reason stays on screen."""
    interrupts = Interrupts()
    run_steps(plan_, PANES[role], interrupts)
    codes = {step: read_rc(plan_.out, step) for step in PANES[role]}
    code = exit_code(codes, bool(interrupts.count))
    if role == "watcher":  # the last pane to finish: the report and summary stay on its screen
        summary(plan_, STEPS["tmux"], show_report=True)
    if code and code != 130 and sys.stdin.isatty():
        if os.environ.get("TMUX_PANE"):  # keys go to the pane that waits for them
            subprocess.run(["tmux", "select-pane", "-t", os.environ["TMUX_PANE"]], check=False)
        for step, rc in codes.items():
            if rc:
                say(f"{step} failed with exit code {rc}:")
                for line in error_lines(layout.step_log(plan_.out, step)):
                    say(f"  | {line}")
        with contextlib.suppress(EOFError, OSError, KeyboardInterrupt):
            input("[pipeline] press Enter to close this pane ")
    return code


def take_session(s: Settings, launcher: str, argv: list[str]) -> None:
    """Make room for the tmux session: a finished one (all panes exited) is removed, a running
    one only with --restart; else SettingsError with the ways out."""
    if _tmux("has-session", "-t", f"={s.session}") is None:
        return
    if s.restart:
        say(f"--restart: stopping the running tmux session '{s.session}'")
    elif not panes_exited(s.session):
        raise SettingsError(
            f"tmux session '{s.session}' is still running.\n"
            f"  watch it:         tmux attach -t {s.session}\n"
            f"  or start over:    {shlex.join([launcher, '--restart', *argv])}   (stops that run)\n"
            "  or run a second pipeline beside it: add --session NAME (and its own --output_dir)"
        )
    _tmux("kill-session", "-t", f"={s.session}")


def finish(plan_: Plan, wait: bool) -> int:
    """After the launcher attached (or, with wait, until both panes wrote their exit codes):
    close the finished session and print the report and the summary; a session still running
    (detached with Ctrl-B D) is left alone."""
    session = plan_.settings.session
    if wait:
        wait_for_panes(plan_)
    elif not panes_exited(session):
        say(f"still running; attach again with: tmux attach -t {session}")
        say("the report and the summary will be printed in the watcher pane and kept in")
        say(f"{layout.summary_file(plan_.out)} (report.json beside it)")
        return 0
    _tmux("kill-session", "-t", f"={session}")
    return summary(plan_, STEPS["tmux"], show_report=True)
