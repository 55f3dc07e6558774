"""A full disk ends a run with one sentence and its own exit code, never a traceback.

Every write of samples, verdicts and state is atomic (a temp file, then os.replace) or one
O_APPEND line that is taken back when it does not fit (sftkit.common.jsonl), so what is stored
stays whole and a rerun after freeing space completes the rest.

Usage:
    try:
        ...
    except OSError as exc:
        message = disk_full_message(exc)    # None for any other OSError: let it rise
        if message is None:
            raise
        print(f"error: {message}", file=sys.stderr)
        return EXIT_DISK_FULL

[Errno 28] writing out/src/multiples/3_0.jsonl -> "disk full writing out/src/multiples/3_0.jsonl
(12 KiB free): free space and rerun the same command"
"""

from __future__ import annotations

import errno
import os
import shutil

EXIT_DISK_FULL = 3  # documented in each script's exit codes
DISK_FULL_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT})


def is_disk_full(exc: BaseException) -> bool:
    return isinstance(exc, OSError) and exc.errno in DISK_FULL_ERRNOS


def _free(path: str) -> str:
    """Free space on the filesystem holding `path` (its nearest existing folder): "12 KiB"."""
    folder = os.path.abspath(path)
    while folder and not os.path.isdir(folder):
        parent = os.path.dirname(folder)
        if parent == folder:
            break
        folder = parent
    try:
        free = float(shutil.disk_usage(folder).free)
    except OSError:
        return "free space unknown"
    for unit in ("B", "KiB", "MiB", "GiB"):
        if free < 1024 or unit == "GiB":
            return f"{free:.0f} {unit} free" if unit == "B" else f"{free:.1f} {unit} free"
        free /= 1024
    return ""  # not reached


def disk_full_message(exc: BaseException, path: str | os.PathLike | None = None) -> str | None:
    """The one line for a write that found the disk (or the user's quota) full, or None when
    `exc` is another error. `path` is used when the error does not name its file."""
    if not is_disk_full(exc):
        return None
    where = exc.filename if exc.filename is not None else path
    where = os.fspath(where) if where is not None else "."
    quota = " (disk quota exceeded)" if exc.errno == errno.EDQUOT else ""
    return (
        f"disk full{quota} writing {where} ({_free(where)}): free space and rerun the same command"
    )
