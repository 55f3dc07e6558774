"""The watcher's settings: one frozen Config whose fields are its flags, and their parser.

parse_args(["--output_dir", "out", "--once"]) -> Config(output_dir=Path("out"), once=True, ...);
a bad value exits 2 with argparse's usage line. validate_watcher.py and sftkit.pipeline parse here.
"""

from __future__ import annotations

import argparse
import os
from dataclasses import dataclass
from pathlib import Path

from sftkit.common.flags import add_flags, flag, flag_of, from_args
from sftkit.common.jsonl import InputError
from sftkit.output import layout


@dataclass(frozen=True)
class Config:
    """The watcher's settings: each field is its flag (sftkit.common.flags), in `-h` order; given as
    typed on the command line, checked and completed in __post_init__."""

    output_dir: Path = flag("sft_output", "generator output folder")
    watch_dirs: tuple[Path, ...] = flag(None, "folders to watch (default: output_dir)", nargs="+")
    interval: float = flag(1.0, "seconds between polls", type=float)
    stop_file: Path = flag(None, "default: <output_dir>/.watcher_stop")
    once: bool = flag(False, "one full scan, grade everything, exit", action="store_true")
    rescan: bool = flag(False, "ignore verdict logs and regrade everything", action="store_true")
    poll: bool = flag(
        False,
        "list changed folders every poll instead of using kernel file events (for a file "
        "system that sends none, e.g. some network mounts)",
        action="store_true",
    )
    workers: int = flag(
        os.cpu_count() or 1,
        "grading processes",
        name="--grading_processes",
        aliases=("--workers",),
        type=int,
    )
    timeout: float = flag(
        10.0,
        "hard time limit per item, seconds",
        name="--item_timeout_s",
        aliases=("--timeout",),
        type=float,
    )
    batch_size: int = flag(32, "max items per worker task", type=int)
    max_tries: int = flag(5, "reads before an incomplete file is an error", type=int)
    grader: str = flag(
        "validate_sft_data:validate_item",
        "module:function taking a sample record and returning a verdict dict",
    )

    def __post_init__(self) -> None:
        """Check values (InputError naming the flag) and derive the folders."""
        for name in ("interval", "timeout"):
            if getattr(self, name) <= 0:
                raise InputError(f"{flag_of(Config, name)} must be > 0")
        for name in ("workers", "batch_size", "max_tries"):
            if getattr(self, name) < 1:
                raise InputError(f"{flag_of(Config, name)} must be >= 1")
        if ":" not in self.grader:
            raise InputError("--grader must look like module:function")
        out = Path(self.output_dir)
        derived = {
            "output_dir": out,
            # Absolute, so a folder reached from two watched paths is still one folder.
            "watch_dirs": tuple(Path(os.path.abspath(d)) for d in (self.watch_dirs or [out])),
            "stop_file": Path(self.stop_file) if self.stop_file else layout.stop_file(out),
        }
        for name, value in derived.items():
            object.__setattr__(self, name, value)  # frozen: set once, here


def parse_args(argv: list[str] | None = None) -> Config:
    p = argparse.ArgumentParser(
        description="Grade generated SFT samples as they appear.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    add_flags(p, Config)
    try:
        return from_args(Config, p.parse_args(argv))
    except InputError as exc:
        p.error(str(exc))  # usage and exit code 2, as argparse does for a bad value
