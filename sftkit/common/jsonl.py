"""JSON-lines I/O that never leaves a half-written file and names the bad line.

Usage:
    for lineno, obj in read_jsonl("data/x_math.jsonl"): ...
    atomic_write_jsonl("out/0_0.jsonl", [record])
"""

from __future__ import annotations

import contextlib
import errno
import itertools
import json
import os
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TextIO


class InputError(ValueError):
    """Bad user input; the message already reads `file:line: what is wrong`."""


def parse_lines(
    path: str | os.PathLike,
    lines: Iterable[str | bytes],
    undecodable: Callable[[int, bytes, UnicodeDecodeError], str] | None = None,
) -> Iterator[tuple[int, dict | str]]:
    """(1-based line number, object) for each non-blank line, or (line number, what is wrong):
    callers decide whether a bad line stops them. '[1]' on line 7 -> (7, "x.jsonl:7: expected a
    JSON object, got list"). Lines may be bytes: one that is not UTF-8 gets `undecodable(lineno,
    raw, exc)`'s message (default: "x.jsonl:7: not UTF-8 text")."""
    for lineno, line in enumerate(lines, 1):
        if isinstance(line, bytes):
            try:
                line = line.decode("utf-8")
            except UnicodeDecodeError as exc:
                yield (
                    lineno,
                    (
                        undecodable(lineno, line, exc)
                        if undecodable
                        else f"{path}:{lineno}: not UTF-8 text"
                    ),
                )
                continue
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            yield lineno, f"{path}:{lineno}: invalid JSON: {exc.msg}"
            continue
        if not isinstance(obj, dict):
            yield lineno, f"{path}:{lineno}: expected a JSON object, got {type(obj).__name__}"
            continue
        yield lineno, obj


def read_jsonl(path: str | os.PathLike) -> Iterator[tuple[int, dict]]:
    """Yield (1-based line number, object) for each non-blank line.

    A line that is not a JSON object raises InputError("data/x.jsonl:7: invalid JSON: ...").
    """
    path = Path(path)
    with path.open(encoding="utf-8") as fh:
        for lineno, obj in parse_lines(path, fh):
            if isinstance(obj, str):
                raise InputError(obj)
            yield lineno, obj


def dumps(obj) -> str:
    """One compact JSON line; Korean stays readable (ensure_ascii=False)."""
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":"))


_TMP_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0)
_tmp_counter = itertools.count()


def _open_temp(path: str) -> tuple[int, str]:
    """A new, exclusive temp file in `path`'s folder: (fd, temp path).

    The temp name must not end in .jsonl: watchers glob for *.jsonl and must never see it.
    pid + a per-process counter make it unique without mkstemp's random names and retries
    (a third of the cost of a one-sample write); O_EXCL still refuses to reuse a leftover.
    """
    folder, name = os.path.split(path)
    tmp = os.path.join(folder, f".{name}.{os.getpid()}.{next(_tmp_counter)}.tmp")
    try:
        return os.open(tmp, _TMP_FLAGS, 0o666), tmp
    except FileNotFoundError:  # first write into a new folder; mkdir per call costs more
        os.makedirs(folder or ".", exist_ok=True)
        return os.open(tmp, _TMP_FLAGS, 0o666), tmp


def _discard(tmp: str) -> None:
    try:
        os.unlink(tmp)
    except FileNotFoundError:
        pass


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    """Write via a temp file in the same folder + os.replace, so readers see all or nothing."""
    atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_bytes(path: str | os.PathLike, content: bytes | bytearray | memoryview) -> None:
    """atomic_write_text for bytes: the watcher's index checkpoint."""
    path = os.fspath(path)
    fd, tmp = _open_temp(path)
    try:
        try:
            data = memoryview(content).cast("B")
            while data:
                data = data[os.write(fd, data) :]
        finally:
            os.close(fd)
        os.replace(tmp, path)
    except BaseException as exc:
        _discard(tmp)
        _name(exc, path)
        raise


def _no_space(path) -> int:
    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), os.fspath(path))


def _name(exc: BaseException, path: str) -> None:
    """Let a write error name the file it was writing: os.write's ENOSPC names none, and the
    one line a full disk ends with (sftkit.common.diskfull) should say where."""
    if isinstance(exc, OSError) and exc.errno is not None and exc.filename is None:
        exc.filename = path


@contextmanager
def atomic_open(path: str | os.PathLike) -> Iterator[TextIO]:
    """Stream text to a temp file in the same folder; os.replace onto `path` when the block ends
    without error, remove the temp file otherwise. For outputs too big to build in memory.

    with atomic_open("merged/all.jsonl") as fh: fh.write(line)
    """
    path = os.fspath(path)
    fd, tmp = _open_temp(path)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            yield fh
        os.replace(tmp, path)
    except BaseException as exc:
        _discard(tmp)
        _name(exc, path)
        raise


def atomic_write_jsonl(path: str | os.PathLike, records: Iterable[dict]) -> None:
    """Atomically write records, one JSON object per line."""
    atomic_write_text(path, "".join(dumps(r) + "\n" for r in records))


def append_jsonl(path: str | os.PathLike, *records: dict) -> None:
    """Append records with a single write() (O_APPEND), so a batch costs one open and concurrent
    appenders never interleave a line.

    A write that does not fit (a full disk) is taken back to where it started, so no torn line
    is left for the next append to run into, and raises with the path named."""
    if not records:
        return
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    data = "".join(dumps(r) + "\n" for r in records).encode("utf-8")
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        start = os.fstat(fd).st_size
        done = os.write(fd, data)
        while done < len(data):  # short: the disk filled up mid-line; the rest raises ENOSPC
            done += os.write(fd, data[done:]) or _no_space(path)
    except OSError as exc:
        with contextlib.suppress(OSError):
            if os.fstat(fd).st_size <= start + len(data):  # nobody appended after us
                os.ftruncate(fd, start)
        _name(exc, os.fspath(path))
        raise
    finally:
        os.close(fd)


def read_log(path: str | os.PathLike) -> tuple[list[tuple[int, dict]], list[int]]:
    """(line number, object) for each line of an append-only log, and the numbers of lines that
    are not JSON objects.

    A crash may leave a torn last line: it is skipped, never fatal. A missing file is empty.
    '{"a":1}\n{"a"' -> ([(1, {"a": 1})], [2])
    """
    records: list[tuple[int, dict]] = []
    bad: list[int] = []
    try:
        fh = open(path, encoding="utf-8", errors="replace")
    except FileNotFoundError:
        return records, bad
    with fh:
        for lineno, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError:
                bad.append(lineno)
                continue
            if isinstance(obj, dict):
                records.append((lineno, obj))
            else:
                bad.append(lineno)
    return records, bad
