"""A command's output folder rebuilt whole on each run: the new content is built beside it, then
swapped in, so no file of an earlier run is left among the new ones and a run that fails leaves
the old folder as it was.

Usage:
    with staged_dir(Path("audit"), marker=".validate_sft_data") as tmp:
        (tmp / "audit.jsonl").write_text(...)        # swapped in when the block ends
    # audit/ now holds exactly what the block wrote (and the marker)

A folder that exists, is not empty and has no marker was not written by this tool (a typo such
as `--output_dir .`): InputError, and nothing is touched.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

from sftkit.common.jsonl import InputError

_AT_FDCWD = -100
_RENAME_EXCHANGE = 2


def check_target(target: Path, marker: str) -> None:
    """InputError unless `target` is absent, an empty folder, or a folder with our marker."""
    if not target.exists():
        return
    if not target.is_dir():
        raise InputError(f"{target}: exists and is not a folder; choose another --output_dir")
    if (target / marker).exists() or not any(target.iterdir()):
        return
    raise InputError(
        f"{target}: holds files this tool did not write; choose another --output_dir "
        "(nothing was changed)"
    )


def _exchange(a: Path, b: Path) -> bool:
    """Swap two paths in one step (Linux renameat2 RENAME_EXCHANGE); False where unsupported."""
    try:
        renameat2 = ctypes.CDLL(None, use_errno=True).renameat2
    except (OSError, AttributeError):
        return False
    rc = renameat2(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE)
    return rc == 0


@contextlib.contextmanager
def staged_dir(target: Path, marker: str) -> Iterator[Path]:
    """A temp folder beside `target` to build into; swapped in for `target` when the block ends
    without error, removed otherwise."""
    target = Path(target)
    check_target(target, marker)
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".new", dir=target.parent))
    try:
        yield staging
        (staging / marker).touch()
        if not target.exists():
            os.rename(staging, target)
        elif _exchange(staging, target):
            shutil.rmtree(staging)  # the old content, now under the temp name
        else:
            old = staging.with_suffix(".old")
            os.rename(target, old)
            os.rename(staging, target)
            shutil.rmtree(old)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
