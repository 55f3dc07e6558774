"""Command-line flags declared once: on the frozen config dataclass that receives them.

A field made with flag() carries its flag's default, help, type and choices; add_flags() builds
the argparse flags from the fields and from_args() builds the config from what argparse parsed,
so a new setting is one field (plus its check, if any, in the config's __post_init__).

Every flag is spelled `--flag_name` and also accepted as `--flag-name` (accept_dashes(), which
add_flags() calls; a parser built by hand calls it after its last add_argument). A renamed flag
keeps its old name as an alias: flag(..., name="--requests_in_flight", aliases=("--worker",)).

Usage:
    @dataclass(frozen=True)
    class Config:
        n: int = flag(4, "samples per problem (%(default)s)", type=int)
        fmt: str = flag("messages", "record format", name="--format", choices=FORMATS)

    parser = argparse.ArgumentParser()
    add_flags(parser, Config)
    cfg = from_args(Config, parser.parse_args(["--n", "8"]))  # Config(n=8, fmt="messages")
    parser.parse_args(["--input-file", "x"])                   # the same as --input_file x
"""

from __future__ import annotations

import argparse
from dataclasses import Field, field, fields


def flag(
    default,
    help: str | None,
    *,
    name: str | None = None,
    aliases: tuple[str, ...] = (),
    repr: bool = True,
    **argparse_kw,
):
    """A config field that is also the flag `name` (default: --<field name>), accepted under its
    old `aliases` too; argparse_kw are add_argument's (type, choices, action, nargs)."""
    meta = {"flag": name, "aliases": aliases, "help": help, "argparse": argparse_kw}
    return field(default=default, repr=repr, metadata=meta)


def flag_name(f: Field) -> str:
    return f.metadata.get("flag") or f"--{f.name}"


def flag_of(cls, field_name: str) -> str:
    """The flag of a config field, for messages: flag_of(Config, "worker") ->
    "--requests_in_flight"."""
    return next(flag_name(f) for f in fields(cls) if f.name == field_name)


def _dest(f: Field) -> str:
    # argparse's own name for the flag (--input_file -> input_file), which callers of
    # parse_args() read; the field may name the parsed value (input_files).
    return flag_name(f).removeprefix("--")


def dashed(option: str) -> str:
    """dashed("--input_file") -> "--input-file"."""
    return "--" + option.removeprefix("--").replace("_", "-")


class _OneSpelling(argparse.HelpFormatter):
    """-h lists a flag under its first spelling only; the epilog says the rest."""

    def _format_action_invocation(self, action):
        if not action.option_strings:
            return super()._format_action_invocation(action)
        if action.nargs == 0:  # -h, --help: both; --flag_name, --flag-name: the first
            names = action.option_strings
            return ", ".join(o for o in names if not any(x != o and dashed(x) == o for x in names))
        metavar = self._format_args(action, self._get_default_metavar_for_optional(action))
        return f"{action.option_strings[0]} {metavar}"


def accept_dashes(parser: argparse.ArgumentParser) -> None:
    """Accept `--flag-name` wherever `--flag_name` is declared (aliases alike), and list one
    spelling per flag in -h. Call after the parser's last add_argument."""
    for action in parser._actions:
        for option in list(action.option_strings):
            alt = dashed(option)
            if option.startswith("--") and alt not in parser._option_string_actions:
                action.option_strings.append(alt)
                parser._option_string_actions[alt] = action
    if not issubclass(parser.formatter_class, _OneSpelling):
        parser.formatter_class = type("Help", (_OneSpelling, parser.formatter_class), {})
    note = "Every --flag_name is also accepted as --flag-name."
    if note not in (parser.epilog or ""):
        parser.epilog = f"{parser.epilog} {note}" if parser.epilog else note


def add_flags(parser: argparse.ArgumentParser, cls) -> None:
    """One add_argument per flag field of `cls`, in field order; aliases and --flag-name too."""
    for f in fields(cls):
        if "help" in f.metadata:
            kw = dict(f.metadata["argparse"])
            aliases = f.metadata.get("aliases", ())
            help_ = f.metadata["help"]
            if aliases and help_ is not argparse.SUPPRESS:
                help_ = f"{help_ or ''} (also {', '.join(aliases)})".lstrip()
            if flag_name(f).startswith("-"):
                kw["dest"] = _dest(f)  # the same name under every spelling
            parser.add_argument(flag_name(f), *aliases, default=f.default, help=help_, **kw)
    accept_dashes(parser)


def from_args(cls, args: argparse.Namespace, **extra):
    """cls(**every flag field's parsed value, **extra); the config checks and derives values."""
    values = {f.name: getattr(args, _dest(f)) for f in fields(cls) if "help" in f.metadata}
    return cls(**values, **extra)
