"""Command-line flags declared once: on the frozen config dataclass that receives them.

A field made with flag() carries its flag's default, help, type and choices; add_flags() builds
the argparse flags from the fields and from_args() builds the config from what argparse parsed,
so a new setting is one field (plus its check, if any, in the config's __post_init__).

Usage:
    @dataclass(frozen=True)
    class Config:
        n: int = flag(4, "samples per problem (%(default)s)", type=int)
        fmt: str = flag("messages", "record format", name="--format", choices=FORMATS)

    parser = argparse.ArgumentParser()
    add_flags(parser, Config)
    cfg = from_args(Config, parser.parse_args(["--n", "8"]))  # Config(n=8, fmt="messages")
"""

from __future__ import annotations

import argparse
from dataclasses import Field, field, fields


def flag(default, help: str, *, name: str | None = None, repr: bool = True, **argparse_kw):
    """A config field that is also the flag `name` (default: --<field name>); argparse_kw are
    add_argument's (type, choices, action, nargs)."""
    meta = {"flag": name, "help": help, "argparse": argparse_kw}
    return field(default=default, repr=repr, metadata=meta)


def flag_name(f: Field) -> str:
    return f.metadata.get("flag") or f"--{f.name}"


def _dest(f: Field) -> str:
    # argparse's own name for the flag (--input_file -> input_file), which callers of
    # parse_args() read; the field may name the parsed value (input_files).
    return flag_name(f).removeprefix("--")


def add_flags(parser: argparse.ArgumentParser, cls) -> None:
    """One add_argument per flag field of `cls`, in field order."""
    for f in fields(cls):
        if "help" in f.metadata:
            kw = f.metadata["argparse"]
            parser.add_argument(flag_name(f), default=f.default, help=f.metadata["help"], **kw)


def from_args(cls, args: argparse.Namespace, **extra):
    """cls(**every flag field's parsed value, **extra); the config checks and derives values."""
    values = {f.name: getattr(args, _dest(f)) for f in fields(cls) if "help" in f.metadata}
    return cls(**values, **extra)
