"""The launcher's settings, parsed once: run_sft_pipeline.sh hands its arguments to Python, which
reads them (and the environment variables of the same upper-case names) into one frozen Settings.

Each generator setting defaults to None, meaning "the generator's own default": that default is
declared once, on sftkit.generation.config.Config, and -h shows it from there. Settings that
belong to the launcher alone (session, interval, stop_delay) are declared here, once.

Usage:
    s = parse_settings(["--demo", "--n", "8", "--", "--seed", "1"], os.environ)
    s.mode, s.demo, s.n, s.extra   # -> "tmux", True, "8", ("--seed", "1")
    print(usage("run_sft_pipeline.sh", os.environ))     # -h: every setting and its value now
"""

from __future__ import annotations

import argparse
from collections.abc import Mapping
from dataclasses import dataclass, fields

from sftkit.common.flags import add_flags, flag, flag_name
from sftkit.common.jsonl import InputError
from sftkit.generation import config as gen_config

MODES = ("tmux", "no_tmux", "generate_only", "validate_only", "merge_only")
MODE_HELP = {
    "no_tmux": "generator, then the watcher (one full scan), then merge, in this terminal",
    "generate_only": "only the generator (touches the stop file when it ends)",
    "validate_only": "only the watcher, one full scan, then merge",
    "merge_only": "only merge validated samples and print the report",
}


class SettingsError(InputError):
    """A setting the run cannot start with; the message names the flag."""


def _gen(help: str, **kw):
    """A generator setting: passed on as the generator's flag of the same name when given."""
    return flag(None, help, **kw)


@dataclass(frozen=True)
class Settings:
    """What the launcher was asked to do. The generator's settings stay the text typed (None:
    not given); the generator's parser checks them, so its messages are the launcher's."""

    data_dir: str | None = _gen(
        "folder of problem files (.jsonl .json .parquet .csv, saved datasets)"
    )
    input_file: str | None = _gen("a problem file or quoted glob instead of DATA_DIR")
    output_dir: str | None = _gen("all output (--demo: sft_output_demo)")
    n: str | None = _gen("samples per problem and version")
    requests_in_flight: str | None = _gen("requests in flight", aliases=("--worker",))
    format: str | None = _gen("messages|sharegpt|alpaca|simple|prompt_completion")
    reasoning: str | None = _gen("think_tags | field | drop")
    base_url: str | None = _gen("endpoint(s), comma-separated")
    model: str | None = _gen("served model name (empty: the first listed)")
    session: str = flag("sft_pipeline", "tmux session name", aliases=("--tmux_session",))
    interval: str = flag("2.0", "watcher poll interval, seconds")
    stop_delay: str = flag("2", "seconds after the generator, then the stop file")
    demo: bool = flag(
        False,
        "the stand-in endpoint (not a model) and the bundled data, in sft_output_demo/",
        action="store_true",
    )
    restart: bool = flag(
        False,
        "replace a running tmux session of the same name (stops that run)",
        action="store_true",
    )
    mode: str = "tmux"  # set by --no_tmux, --generate_only, ... (the last one given wins)
    extra: tuple[str, ...] = ()  # after --: generate_sft_data.py's own flags


# The environment variable of each setting (N=8 is --n 8); a flag given beats it.
ENV = {
    "data_dir": "DATA_DIR",
    "input_file": "INPUT_FILE",
    "output_dir": "OUTPUT_DIR",
    "n": "N",
    "requests_in_flight": "WORKER",
    "format": "FORMAT",
    "reasoning": "REASONING",
    "base_url": "BASE_URL",
    "model": "MODEL",
    "session": "TMUX_SESSION",
    "interval": "INTERVAL",
    "stop_delay": "STOP_DELAY",
}
GEN_FLAGS = {  # launcher setting -> the generator's flag it becomes
    "data_dir": "--data_dir",
    "input_file": "--input_file",
    "output_dir": "--output_dir",
    "n": "--n",
    "requests_in_flight": "--requests_in_flight",
    "format": "--format",
    "reasoning": "--reasoning",
    "base_url": "--base_url",
    "model": "--model",
}


class _Refused(Exception):
    pass


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # one line, raised; the caller words it
        raise _Refused(message)


def _parser(env: Mapping[str, str]) -> argparse.ArgumentParser:
    p = _Parser(add_help=False, allow_abbrev=False)
    p.add_argument("-h", "--help", action="store_true")
    for mode in MODES[1:]:
        p.add_argument(f"--{mode}", dest="mode", action="store_const", const=mode)
    add_flags(p, Settings)
    for name, var in ENV.items():  # an empty variable is an unset one, as in the shell
        if env.get(var):
            p.set_defaults(**{name: env[var]})
    p.set_defaults(mode="tmux")
    return p


def gen_default(name: str):
    """The generator's default for a launcher setting: gen_default("n") -> 4."""
    return next(f.default for f in fields(gen_config.Config) if flag_name(f) == GEN_FLAGS[name])


def _unknown(rest: list[str], launcher: str) -> SettingsError:
    """The message for the first argument the launcher does not take; a generator flag is named
    as such: "unknown argument: --temperature is a generator flag; generator flags go after --:
    run_sft_pipeline.sh [settings] -- --temperature 0.6"."""
    arg = rest[0]
    name = arg.split("=", 1)[0]
    gen_parser = argparse.ArgumentParser(add_help=False)
    add_flags(gen_parser, gen_config.Config)
    if name.startswith("--") and name in gen_parser._option_string_actions:
        value = rest[1] if len(rest) > 1 and not rest[1].startswith("--") else "VALUE"
        example = arg if "=" in arg else f"{name} {value}"
        return SettingsError(
            f"unknown argument: {name} is a generator flag; generator flags go after --: "
            f"{launcher} [settings] -- {example}"
        )
    return SettingsError(
        f"unknown argument: {arg} (run {launcher} -h for the modes and settings; generator "
        f"flags go after --)"
    )


def parse_settings(
    argv: list[str], env: Mapping[str, str], launcher: str = "run_sft_pipeline.sh"
) -> Settings | None:
    """The settings of one launch (None: -h was asked for); SettingsError names a bad argument.

    parse_settings(["--no-tmux", "--n", "8"], {"N": "2"}) -> Settings(mode="no_tmux", n="8", ...)
    """
    own, extra = argv, []
    if "--" in argv:
        cut = argv.index("--")
        own, extra = argv[:cut], argv[cut + 1 :]
    try:
        args, rest = _parser(env).parse_known_args(own)
    except _Refused as exc:
        text = str(exc)
        if text.endswith("expected one argument"):  # argparse: "argument --n: expected ..."
            text = text.removeprefix("argument ").split("/", 1)[0].split(":", 1)[0]
            text += " needs a value"
        raise SettingsError(text) from None
    if rest:
        raise _unknown(rest, launcher)
    if args.help:
        return None
    values = {f.name: getattr(args, f.name) for f in fields(Settings) if f.name != "extra"}
    return Settings(**values, extra=tuple(extra))


def usage(launcher: str, env: Mapping[str, str]) -> str:
    """The launcher's -h: modes, then every setting with its flag, variable and current value."""
    lines = [
        f"Usage: {launcher} [mode] [settings] [-- generator args...]",
        "Generates samples, grades them as they land, merges the correct ones and prints the "
        "report.",
        "",
        "Modes (default: a tmux session, watcher left pane, generator right pane):",
    ]
    for mode, text in MODE_HELP.items():
        lines.append(f"  --{mode:<17} {text}")
    for f in fields(Settings):
        if f.name in ("demo", "restart"):
            lines.append(f"  {flag_name(f):<19} {f.metadata['help']}")
    lines += ["  -h, --help          this help", ""]
    lines.append("Settings (flag, or environment variable; current value):")
    for f in fields(Settings):
        var = ENV.get(f.name)
        if var is None:
            continue
        value = env.get(var) or (gen_default(f.name) if f.name in GEN_FLAGS else f.default)
        if isinstance(value, tuple | list):
            value = ",".join(value)
        shown = f"{var}={'' if value is None else value}"
        lines.append(f"  {flag_name(f):<20} {shown:<36} {f.metadata['help']}")
    shown = f"PYTHON={env.get('PYTHON') or 'python3'}"
    lines.append(f"  {'':<20} {shown:<36} interpreter (environment only)")
    lines += [
        "",
        "Every --flag_name is also accepted as --flag-name; --worker is --requests_in_flight.",
        "Arguments after -- go to generate_sft_data.py (python generate_sft_data.py -h).",
        "Exit code: 0 ok; 1 samples failed or could not be graded; 2 bad settings or input,",
        "unreachable endpoint, no tmux, or the session still running; 3 disk full; 130",
        "interrupted (Ctrl-C, SIGTERM, SIGHUP). The report and summary are kept in",
        "<output>/summary.txt.",
    ]
    return "\n".join(lines)
