r"""The launcher's settings, checked once and turned into the steps' arguments: `plan()` -> `Plan`.

Every setting is checked through the generator's and the watcher's own parsers, whatever the mode
(a bad one is a mistake even where unused), and with load_data the problem files too (file:line).
The tmux panes read the checked Plan from <output>/.launch.json, so nothing is parsed twice.

Usage:
    s = parse_settings(["--no-tmux", "--n", "8", "--", "--seed", "1"], os.environ, "run.sh")
    p = plan(s)          # SettingsError naming the first bad setting, or InputError (file:line)
    p.gen_args           # ("--n", "8", "--output_dir", "sft_output", "--no_merge", "--seed", "1")
    Plan.load(p.save())  # == p
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import os
import sys
from dataclasses import asdict, dataclass, fields
from pathlib import Path

from sftkit.common.flags import dashed
from sftkit.common.jsonl import atomic_write_text
from sftkit.generation import config as gen_config
from sftkit.generation.plan import load_inputs
from sftkit.generation.signature_check import check_signature, run_signature
from sftkit.output import layout
from sftkit.settings import GEN_FLAGS, Settings, SettingsError, gen_default
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
