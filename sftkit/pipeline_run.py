"""Running the launcher's steps in order: the generator (with the stand-in endpoint for --demo)
then, whatever its end, the stop file after STOP_DELAY seconds; the watcher; the merge.

Each step keeps its screen output in `<output>/.<step>.log` and its exit code in
`<output>/.<step>.rc` (the summary reads them). The pty machinery is sftkit/pipeline_steps.py.

Usage:
    run_steps(plan("..."), ("generator", "watcher", "merge"), Interrupts())
    run_step(plan_, "merge")  # -> the merge's exit code, also in <output>/.merge.rc
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from sftkit.generation import config as gen_config
from sftkit.output import layout
from sftkit.pipeline_plan import DEMO_MODEL, GENERATOR, PLACEHOLDER_URL, REPO, WATCHER, Plan
from sftkit.pipeline_steps import Interrupts, run_teed, say, show_cmd
from sftkit.settings import SettingsError


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
