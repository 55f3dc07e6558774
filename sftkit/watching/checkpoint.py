"""A restart in seconds at a million samples: a checkpoint of a folder's compact index beside its
verdict log, so a restart reads tens of megabytes of packed slots and parses only the lines logged
after them, instead of a million JSON lines.

    <out>/<source>/.<type>_verdicts.index     (the name is sftkit.output.layout.index_checkpoint's)

A checkpoint names the log it covers: its inode, its length then, and a digest of the 4 KiB
before that length. The log is append-only, so the checkpoint holds while the log is the same
file and still has those bytes there; a log replaced, truncated or edited makes it void, and the
log is read whole as before. Only the watcher saves one (sftkit.watching.watcher), for logs of
at least MIN_LINES lines, so small folders never have one.

Usage:
    index, offset = restore(log, checkpoint)   # None when none holds; read the log from offset
    save(index, log, checkpoint)       # the index must hold exactly the log's lines
"""

from __future__ import annotations

import hashlib
import json
import os
import struct
from array import array
from pathlib import Path

import numpy as np

from sftkit.common.jsonl import atomic_write_bytes
from sftkit.watching.index import _SLOT, LIVE, VerdictIndex

MAGIC = b"sftkit verdict index 1\n"
MIN_LINES = 10_000  # below this a log is read in well under a second: no checkpoint
EVERY_LINES = 50_000  # a restart parses at most about this many lines after the checkpoint
TAIL_BYTES = 4096
INODE_OFFSET = struct.calcsize(_SLOT.format[:-3])  # flags, size, mtime_ns: then the inode


def tail_digest(fd: int, offset: int) -> str:
    """sha256 of the TAIL_BYTES of an open file before `offset` (fewer at its start)."""
    start = max(0, offset - TAIL_BYTES)
    return hashlib.sha256(os.pread(fd, offset - start, start)).hexdigest()


def save(index: VerdictIndex, log: Path, checkpoint: Path) -> None:
    """Write `index` as the checkpoint of `log` as it is now, atomically. The caller guarantees
    the index holds exactly the log's lines (the watcher, the log's only writer, after its
    appends). Live flags are cleared: whether a file still holds is checked again at restart."""
    problems, other = index.slots()
    keys = list(problems)
    table = array("q")
    for p in keys:
        table.extend((p, len(problems[p])))
    blob = bytearray().join(problems[p] for p in keys)
    # Only an entry a listing confirmed (live) keeps its inode: a restart may trust that inode
    # (sftkit.watching.watcher), and a file stale or gone now must be looked at again then.
    count = len(blob) // _SLOT.size
    flags = np.ndarray((count,), "<u2", blob, 0, (_SLOT.size,))
    inodes = np.ndarray((count,), "<u8", blob, INODE_OFFSET, (_SLOT.size,))
    inodes[(flags & LIVE) == 0] = 0
    flags &= ~LIVE & 0xFFFF
    odd = {}
    for name, raw in other.items():
        fields = list(_SLOT.unpack(raw))
        fields[3] = fields[3] if fields[0] & LIVE else 0
        fields[0] &= ~LIVE
        odd[name] = _SLOT.pack(*fields).hex()
    fd = os.open(log, os.O_RDONLY)
    try:
        st = os.fstat(fd)
        head = {
            "slot": _SLOT.format, "slot_size": _SLOT.size, "problems": len(keys),
            "blob_bytes": len(blob), "size": index.size, "errors": index.errors, "other": odd,
            "log": {"inode": st.st_ino, "offset": st.st_size, "lines": index.log_lines,
                    "tail_sha256": tail_digest(fd, st.st_size)},
        }  # fmt: skip
    finally:
        os.close(fd)
    header = json.dumps(head, ensure_ascii=False).encode("utf-8") + b"\n"
    atomic_write_bytes(checkpoint, MAGIC + header + table.tobytes() + blob)
    index.checkpoint_lines = index.log_lines


def restore(log: Path, checkpoint: Path) -> tuple[VerdictIndex, int] | None:
    """(the index saved in `checkpoint`, with `log_lines` set, and the byte offset in `log` where
    it ends); None when there is none, or it does not hold for the log as it is now."""
    try:
        with open(checkpoint, "rb") as fh:
            data = fh.read()
    except OSError:
        return None
    try:
        head, index = _parse(data)
        fd = os.open(log, os.O_RDONLY)
    except (OSError, ValueError, KeyError, TypeError):
        return None
    try:
        st, mark = os.fstat(fd), head["log"]
        offset = mark["offset"]
        if st.st_ino != mark["inode"] or st.st_size < offset:
            return None
        if tail_digest(fd, offset) != mark["tail_sha256"]:
            return None
    finally:
        os.close(fd)
    index.log_lines = index.checkpoint_lines = mark["lines"]
    return index, offset


def _parse(data: bytes) -> tuple[dict, VerdictIndex]:
    """(header, index) of a checkpoint's bytes; ValueError if they are not one of ours."""
    if not data.startswith(MAGIC):
        raise ValueError("not a checkpoint")
    end = data.index(b"\n", len(MAGIC))
    head = json.loads(data[len(MAGIC) : end])
    if (head["slot"], head["slot_size"]) != (_SLOT.format, _SLOT.size):
        raise ValueError("another slot layout")
    table = array("q")
    table.frombytes(data[end + 1 : end + 1 + 16 * head["problems"]])
    pos = end + 1 + 16 * head["problems"]
    if len(data) != pos + head["blob_bytes"] or len(table) != 2 * head["problems"]:
        raise ValueError("cut short")
    problems: dict[int, bytearray] = {}
    view = memoryview(data)
    for i in range(0, len(table), 2):
        p, n = table[i], table[i + 1]
        if n % _SLOT.size or n < 0:
            raise ValueError("bad row")
        problems[p] = bytearray(view[pos : pos + n])
        pos += n
    if pos != len(data):
        raise ValueError("rows do not fill the blob")
    other = {str(k): bytes.fromhex(v) for k, v in head["other"].items()}
    if any(len(v) != _SLOT.size for v in other.values()):
        raise ValueError("bad odd slot")
    errors = {str(k): str(v) for k, v in head["errors"].items()}
    return head, VerdictIndex.from_slots(problems, other, errors, int(head["size"]))
