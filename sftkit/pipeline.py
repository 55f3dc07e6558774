r"""The launcher's logic: check every setting, run the steps with their logs, print one summary.

run_sft_pipeline.sh hands its arguments over unread (`launch`); they are parsed once
(sftkit/settings.py) and checked through the generator's and the watcher's own parsers (plan()).
A mode without tmux runs here. For tmux the checked Plan is saved to <output>/.launch.json and
the script runs again (`__tmux__`) to open the two panes, each running `pane` with that plan.
The orchestration is plain Python, tested without tmux.

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
import contextlib
import io
import json
import logging
import os
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path

from sftkit.common.flags import dashed
from sftkit.common.jsonl import InputError, atomic_write_text
from sftkit.generation import config as gen_config
from sftkit.generation.plan import load_inputs
from sftkit.generation.signature_check import check_signature, run_signature
from sftkit.output import commands, layout
from sftkit.pipeline_steps import Interrupts, run_teed, say
from sftkit.pipeline_steps import show_cmd as show_cmd
from sftkit.pipeline_summary import error_lines, exit_code, read_rc, summary
from sftkit.pipeline_summary import screen_lines as screen_lines
from sftkit.settings import GEN_FLAGS, Settings, SettingsError, gen_default, parse_settings, usage
from sftkit.watching import config as watch_config

REPO = Path(__file__).resolve().parents[1]
GENERATOR = REPO / "generate_sft_data.py"
WATCHER = REPO / "validate_watcher.py"
DEMO_DATA = REPO / "data"
DEMO_MODEL = "demo-model"
DEMO_OUTPUT = "sft_output_demo"  # never the real default: demo samples must not count as done
STEPS = {  # the steps each mode runs, in order
    "tmux": ("generator", "watcher", "merge"),
    "no_tmux": ("generator", "watcher", "merge"),
    "generate_only": ("generator",),
    "validate_only": ("watcher", "merge"),
    "merge_only": ("merge",),
}
PANES = {"generator": ("generator",), "watcher": ("watcher", "merge")}
# What --demo sets itself; a value given for one of these would be silently overridden. A demo
# takes --data_dir / --input_file: the stand-in then answers the user's own problems.
DEMO_OWNS = ("base_url", "model")
PLACEHOLDER_URL = "http://127.0.0.1:9/v1"  # checks a demo run's flags before its endpoint exists


# --- settings --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Plan:
    """What a run does, derived from Settings once they are checked. The tmux panes read it
    from <output>/.launch.json (layout.launch_file), so nothing is parsed twice."""

    settings: Settings
    out: Path
    gen_args: tuple[str, ...]  # generate_sft_data.py's arguments, less --base_url for a demo
    watch_args: tuple[str, ...]
    merge_args: tuple[str, ...]
    stop_delay: float
    fmt: str  # the record format the merge writes (merged/sft_math_all_<fmt>.jsonl)

    @property
    def stop_file(self) -> Path:
        return layout.stop_file(self.out)

    def command(self, script: Path, args) -> list[str]:
        return [sys.executable, str(script), *args]

    def save(self) -> Path:
        """Write the plan for the tmux panes; returns its path."""
        data = {f.name: getattr(self, f.name) for f in fields(self)}
        data.update(settings=asdict(self.settings), out=str(self.out))
        path = layout.launch_file(self.out)
        atomic_write_text(path, json.dumps(data, indent=2) + "\n")
        return path

    @classmethod
    def load(cls, path: str | os.PathLike) -> Plan:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
        s = data["settings"]
        data["settings"] = Settings(**{**s, "extra": tuple(s["extra"])})
        data["out"] = Path(data["out"])
        for name in ("gen_args", "watch_args", "merge_args"):
            data[name] = tuple(data[name])
        return cls(**data)


def _given(flag: str, args: tuple[str, ...]) -> bool:
    return any(a.split("=", 1)[0] in (flag, dashed(flag)) for a in args)


def _parse(parse, args: list[str]):
    """parse(args), or SettingsError with the one line argparse would print beside its usage.

    _parse(gen_config.parse_args, ["--n", "x"]) raises SettingsError("argument --n: invalid int value: 'x'")
    """
    buf = io.StringIO()
    try:
        with contextlib.redirect_stderr(buf):
            return parse(args)
    except SystemExit as exc:
        if exc.code in (0, None):
            raise  # -h among the generator's arguments: its help was printed
        lines = [ln for ln in buf.getvalue().splitlines() if ": error: " in ln]
        raise SettingsError(
            lines[-1].split(": error: ", 1)[1] if lines else buf.getvalue().strip()
        ) from None


def plan(s: Settings, load_data: bool = True) -> Plan:
    """Check every setting for the mode (and, with load_data, the problem files it would read);
    raise SettingsError naming the first bad one, or InputError with file:line."""
    mode = s.mode
    given = {k: getattr(s, k) for k in GEN_FLAGS if getattr(s, k) is not None}
    if s.demo:
        # A value equal to the generator's default overrides nothing.
        owned = [k for k in DEMO_OWNS if given.get(k) not in (None, "", gen_default(k))]
        owned += [k for k in DEMO_OWNS if _given(GEN_FLAGS[k], s.extra)]
        if owned:
            raise SettingsError(
                f"--demo runs the stand-in endpoint, so it cannot take --{owned[0]}; drop --demo "
                "to use your own model"
            )
    if given.get("output_dir") == "":
        raise SettingsError("--output_dir / OUTPUT_DIR must not be empty")
    if not s.session:
        raise SettingsError("--session / TMUX_SESSION must not be empty")
    out = given.get("output_dir") or (DEMO_OUTPUT if s.demo else gen_default("output_dir"))
    try:
        stop_delay = float(s.stop_delay)
    except ValueError:
        stop_delay = -1.0
    if not stop_delay >= 0:
        raise SettingsError(
            f"--stop_delay / STOP_DELAY must be a number >= 0, got '{s.stop_delay}'"
        )
    if s.demo:  # its endpoint's URL is added when it runs
        given.pop("base_url", None)
        given["model"] = DEMO_MODEL
        if given.get("data_dir") in (None, "", gen_default("data_dir")):
            given["data_dir"] = str(DEMO_DATA)  # the bundled sample problems
    given["output_dir"] = out
    gen_args = []
    for name, option in GEN_FLAGS.items():  # only what was given: the generator's defaults
        value = given.get(name)
        if value or (value is not None and name not in ("input_file", "model", "base_url")):
            gen_args += [option, value]
    if mode in ("tmux", "no_tmux"):
        gen_args.append("--no_merge")  # the merge runs once, after the watcher: one report
    gen_args += s.extra
    merge_args = ["--merge_only", "--output_dir", out]
    merge_args += [
        a for k in ("format", "reasoning") if k in given for a in (GEN_FLAGS[k], given[k])
    ]
    if given.get("base_url"):
        merge_args += [GEN_FLAGS["base_url"], given["base_url"]]  # the judge's default endpoint
    merge_args += s.extra
    watch_args = ["--output_dir", out, "--interval", s.interval]
    watch_args += ["--stop_file", str(layout.stop_file(out))]
    if mode != "tmux":
        watch_args.append("--once")  # no live generator beside it: one full scan

    # Every setting is checked whatever the mode: a bad one is a mistake even where unused.
    gen_check = [*gen_args, *(["--base_url", PLACEHOLDER_URL] * s.demo)]
    gen_parsed = _parse(gen_config.parse_args, gen_check)
    _parse(watch_config.parse_args, watch_args)
    _parse(gen_config.parse_args, merge_args)
    cfg = gen_config.config_from_args(gen_parsed)
    if load_data and "generator" in STEPS[mode]:
        # A malformed data line: file:line now. The generator logs what it read when it runs.
        quiet = logging.getLogger("generate")
        level = quiet.level
        quiet.setLevel(logging.ERROR)
        try:
            _, sentences = load_inputs(cfg)
        finally:
            quiet.setLevel(level)
        if cfg.model:  # without --model the generator checks once the server named the model
            check_signature(cfg, run_signature(cfg, cfg.model, sentences))
    return Plan(
        s, Path(out), tuple(gen_args), tuple(watch_args), tuple(merge_args), stop_delay, cfg.fmt
    )


# --- running a step (the machinery is sftkit/pipeline_steps.py) ---------------------------


def run_step(plan_: Plan, name: str, demo_url: str | None = None) -> int:
    """Run one step with its log and exit-code files; returns the exit code."""
    script, args = {
        "generator": (GENERATOR, plan_.gen_args),
        "watcher": (WATCHER, plan_.watch_args),
        "merge": (GENERATOR, plan_.merge_args),
    }[name]
    if name == "generator" and demo_url:
        args = (*args, "--base_url", demo_url)
    argv = plan_.command(script, args)
    rc_file = layout.step_rc(plan_.out, name)
    rc_file.unlink(missing_ok=True)
    say(f"{name}: {show_cmd(argv)}")
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    with open(layout.step_log(plan_.out, name), "wb") as log_file:
        try:
            rc = run_teed(argv, log_file, env)
        except OSError as exc:
            say(f"{name}: cannot start {argv[0]}: {exc}", err=True)
            log_file.write(f"error: cannot start {argv[0]}: {exc}\n".encode())
            rc = 127
    rc_file.write_text(f"{rc}\n")
    say(f"{name} exited with code {rc}")
    return rc


DEMO_QUIRKS = 0.1


@contextlib.contextmanager
def demo_endpoint(plan_: Plan):
    """The stand-in endpoint (not a model) on a free port, for as long as the generator runs."""
    with tempfile.TemporaryDirectory() as tmp:
        url_file = Path(tmp) / "url"
        log_path = layout.step_log(plan_.out, "mock_server")
        # The stand-in recognises the problems the generator reads: same folder, files, fields.
        cfg = gen_config.parse_args([*plan_.gen_args, "--base_url", PLACEHOLDER_URL])
        cmd = [sys.executable, "-m", "sftkit.demo.mock_server", "--data_dir", cfg.data_dir]
        for pattern in cfg.input_file or ():
            cmd += ["--input_file", pattern]
        if cfg.fields:
            cmd += ["--fields", cfg.fields]
        if cfg.skip_bad_rows:
            cmd.append("--skip_bad_rows")
        cmd += ["--host", "127.0.0.1", "--port", "0", "--port_file", str(url_file)]
        cmd += ["--model", DEMO_MODEL]
        # A tenth of the correct replies hedge, loop, mix languages, leave a stray think tag or
        # are cut off after their box: the report shows what the merge's filters drop.
        cmd += ["--p_quirk", str(DEMO_QUIRKS)]
        env = dict(
            os.environ,
            PYTHONPATH=os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])),
        )
        with open(log_path, "wb") as log_file:
            proc = subprocess.Popen(
                cmd, stdout=log_file, stderr=subprocess.STDOUT, env=env, start_new_session=True
            )
        try:
            deadline = time.monotonic() + 30
            while not (url_file.exists() and url_file.read_text().strip()):
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise SettingsError(f"the stand-in endpoint did not start (log: {log_path})")
                time.sleep(0.05)
            url = url_file.read_text().strip()
            say(f"demo: stand-in endpoint (not a model) at {url}, pid {proc.pid}")
            yield url
        finally:
            proc.terminate()
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=10)
            if proc.poll() is None:
                proc.kill()
                proc.wait()
            say("stand-in endpoint stopped")


def run_generator(plan_: Plan) -> int:
    """The generator, then (whatever its end) the stop file after STOP_DELAY seconds."""
    try:
        if plan_.settings.demo:
            try:
                with demo_endpoint(plan_) as url:
                    return run_step(plan_, "generator", demo_url=url)
            except SettingsError as exc:
                say(f"error: {exc}", err=True)
                layout.step_rc(plan_.out, "generator").write_text("2\n")
                layout.step_log(plan_.out, "generator").write_text(f"error: {exc}\n")
                return 2
        return run_step(plan_, "generator")
    finally:
        say(f"stopping the watcher in {plan_.stop_delay:g}s (stop file {plan_.stop_file})")
        time.sleep(plan_.stop_delay)
        plan_.stop_file.touch()


def run_steps(plan_: Plan, steps, interrupts: Interrupts) -> None:
    for step in steps:
        if interrupts.count > 1:
            say(f"{step}: skipped (interrupted twice)")
            if step == "generator":
                plan_.stop_file.touch()
            continue
        if step == "generator":
            run_generator(plan_)
        else:
            run_step(plan_, step)


# --- waiting for the tmux panes --------------------------------------------------------------


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


# --- entry points ----------------------------------------------------------------------------


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
