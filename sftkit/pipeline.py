r"""The launcher's logic: check every setting, run the steps with their logs, print one summary.

run_sft_pipeline.sh hands its arguments over unread (`launch`); they are parsed once
(sftkit/settings.py) and checked through the generator's and the watcher's own parsers (plan()).
A mode without tmux runs here. For tmux the checked Plan is saved to <output>/.launch.json and
the script runs again (`__tmux__`) to open the two panes, each running `pane` with that plan.
The orchestration is plain Python, tested without tmux. Its pieces, in pipeline order:
sftkit/pipeline_plan.py (settings -> the checked Plan), pipeline_run.py (the steps in order,
the stand-in for --demo, the stop file), pipeline_steps.py (one step's terminal and signals),
pipeline_tmux.py (the panes, `finish`), pipeline_summary.py (exit code, summary).

Usage (run_sft_pipeline.sh does this):
    python -m sftkit.pipeline launch /bin/bash run_sft_pipeline.sh --no-tmux --n 8 -- --seed 1
    python -m sftkit.pipeline pane generator --plan sft_output/.launch.json  # one pane's steps
    python -m sftkit.pipeline wait_exited --plan sft_output/.launch.json     # both panes exited
    python -m sftkit.pipeline finish --wait --plan sft_output/.launch.json   # report, summary

Steps: `generator`, `watcher`, `merge`. Each keeps its screen output in `<output>/.<step>.log` and
its exit code in `<output>/.<step>.rc`. The generator step, whatever its end (also Ctrl-C), waits
STOP_DELAY seconds and touches the stop file, so the watcher grades what is left and exits.
Exit code: 130 if interrupted (Ctrl-C, SIGTERM, SIGHUP), else the first failing step's code
(generator, watcher, merge; 1 samples failed after retries or files could not be graded, 2 bad
input, flags or endpoint, 3 disk full), else 0. Bad settings exit 2 before any step runs and
before anything is written. The report and the summary are also written to
<output>/summary.txt (in tmux, by the watcher pane when it finishes).
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
from dataclasses import replace

from sftkit.common.jsonl import InputError
from sftkit.output import commands, layout
from sftkit.pipeline_plan import PANES, STEPS, Plan, plan
from sftkit.pipeline_run import run_steps
from sftkit.pipeline_steps import Interrupts, say
from sftkit.pipeline_steps import show_cmd as show_cmd
from sftkit.pipeline_summary import error_lines as error_lines
from sftkit.pipeline_summary import exit_code as exit_code
from sftkit.pipeline_summary import screen_lines as screen_lines
from sftkit.pipeline_summary import summary
from sftkit.pipeline_tmux import finish, pane, take_session, wait_for_panes
from sftkit.settings import SettingsError, parse_settings, usage


def reset(plan_: Plan) -> None:
    """Forget the previous run's stop file and step codes (not its samples or verdicts)."""
    plan_.out.mkdir(parents=True, exist_ok=True)
    plan_.stop_file.unlink(missing_ok=True)
    for step in ("generator", "watcher", "merge"):
        layout.step_rc(plan_.out, step).unlink(missing_ok=True)


def run(plan_: Plan) -> int:
    """A mode without tmux: its steps one after the other in this terminal, then the summary."""
    interrupts = Interrupts()
    reset(plan_)
    if plan_.settings.demo:
        say(f"demo: output in {plan_.out}/")
    steps = STEPS[plan_.settings.mode]
    run_steps(plan_, steps, interrupts)
    return summary(plan_, steps, show_report=False, interrupted=bool(interrupts.count))


def launch(bash: str, launcher: str, argv: list[str]) -> int:
    """run_sft_pipeline.sh's arguments, parsed once. A mode without tmux runs here; for tmux,
    the session is checked, the plan saved, and this process becomes `bash launcher __tmux__
    SESSION OUTPUT PLAN`, which opens the panes (the shell keeps what the shell is for)."""
    s = parse_settings(argv, os.environ, launcher)
    if s is None:
        print(usage(launcher, os.environ))
        return 0
    if s.mode == "tmux" and shutil.which("tmux") is None:
        if not s.demo:
            raise SettingsError(
                "tmux is not installed: install it (e.g. apt-get install tmux) or run with "
                "--no-tmux"
            )
        say("tmux is not installed: running the demo in this terminal (--no-tmux)")
        s = replace(s, mode="no_tmux")
    plan_ = plan(s)
    # The one line that rebuilds this folder, for report.html and the dataset card (settings
    # from environment variables are not on it; the steps' own lines follow it there).
    line = [launcher, *argv]
    if s.mode != "tmux":
        commands.record(plan_.out, "launch", line, python=False)
        return run(plan_)
    take_session(s, launcher, argv)
    reset(plan_)
    commands.record(plan_.out, "launch", line, python=False)
    path = plan_.save()
    say(f"tmux session '{s.session}': watcher (left), generator (right); output {plan_.out}/")
    os.execv(bash, [bash, launcher, "__tmux__", s.session, str(plan_.out), str(path)])


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The tmux side's actions (launch is read by main() before this: its arguments are the
    launcher's own)."""
    p = argparse.ArgumentParser(
        prog="python -m sftkit.pipeline",
        description="The launcher's logic. run_sft_pipeline.sh calls `launch BASH LAUNCHER ARGS` "
        "with its own arguments, then runs the tmux panes with the saved plan.",
    )
    p.add_argument("action", choices=("pane", "wait_exited", "finish"))
    p.add_argument("role", nargs="?", choices=tuple(PANES), help="pane: which pane")
    p.add_argument("--plan", required=True, help="<output>/.launch.json, saved by launch")
    p.add_argument("--wait", action="store_true", help="finish: wait for both panes first")
    args = p.parse_args(argv)
    if args.action == "pane" and args.role is None:
        p.error("pane: name the role (generator or watcher)")
    return args


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["launch"] and len(argv) >= 3:  # the launcher's own arguments follow
        try:
            return launch(argv[1], argv[2], argv[3:])
        except InputError as exc:  # SettingsError, or a malformed data line (file:line)
            say(f"error: {exc}", err=True)
            say(f"{argv[2]} -h lists the settings; nothing was started", err=True)
            return 2
    args = parse_args(argv)
    plan_ = Plan.load(args.plan)
    if args.action == "pane":
        return pane(plan_, args.role)
    if args.action == "wait_exited":
        wait_for_panes(plan_, until_exited=True)
        return 0
    return finish(plan_, args.wait)


if __name__ == "__main__":
    sys.exit(main())
