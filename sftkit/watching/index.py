"""Compact per-sample state for folders of a million samples: what the watcher, the report and the
generator's resume need to know about each `<p>_<s>.jsonl`, in tens of bytes, not a dict each.

Usage:
    index = VerdictIndex()
    index.load(verdict_lines)               # latest verdict per file, the log's last line wins
    entry = index.get("3_0.jsonl")          # Entry(flags, size, mtime_ns, inode, ...) or None
    entry.figures                           # tokens etc. the verdict line carried, or None
    index.is_stale("3_0.jsonl", os.stat(path))   # file no longer what was graded?
    index.confirm("3_0.jsonl", os.stat(path))    # its file exists and still holds: it counts
    stored = SampleSet(["0_0.jsonl", "0_1.jsonl"]); "0_1.jsonl" in stored -> True

Names are `<p>_<s>.jsonl`; state is kept per problem p in one bytearray with a fixed slot per
sample index s (36 bytes: flags, size, mtime_ns or graded_at, inode, and the report's token
counts when the verdict line carries them, see sftkit.output.figures). A name of any other form,
or a sample index beyond DENSE_LIMIT, goes to a small dict instead, so odd input costs memory
only for itself.
"""

from __future__ import annotations

import os
import re
import struct
from collections.abc import Iterable, Iterator
from typing import NamedTuple

from sftkit.output.figures import TOKEN_LIMIT, SampleFigures

SAMPLE_SUFFIX = ".jsonl"
DENSE_LIMIT = 1 << 16  # sample indices above this are kept in the overflow dict

# Entry flags.
VERDICT = 1  # a verdict is recorded (slot in use)
CORRECT = 2
NO_BOX = 4
ERROR = 8  # the verdict carries `error` (unreadable file, grader crash)
STAMPED = 16  # size and mtime_ns are the stamp of the graded content
LIVE = 32  # the sample file exists (seen by a listing or an event): it counts
TRUNCATED = 64  # the report's figures of the graded sample (valid with FIGURES)
REASONING = 128
FIGURES = 256  # the verdict line carried the figures: the report need not read the file

# flags, size, mtime_ns (or graded_at in ns), inode, prompt and completion tokens. The low byte
# of flags comes first: a zero byte there marks an empty slot (VERDICT is set in every entry).
_SLOT = struct.Struct("<HxxqqQii")
_EMPTY = bytes(_SLOT.size)


class Entry(NamedTuple):
    flags: int
    size: int
    mtime_ns: int  # the stamp; for an unstamped (older) line, its graded_at in ns
    inode: int  # 0 = not seen yet
    prompt_tokens: int = 0
    completion_tokens: int = 0

    @property
    def correct(self) -> bool:
        return bool(self.flags & CORRECT)

    @property
    def figures(self) -> SampleFigures | None:
        """What the report counts for this sample, if its verdict line carried it."""
        if not self.flags & FIGURES:
            return None
        return SampleFigures(
            self.prompt_tokens,
            self.completion_tokens,
            bool(self.flags & TRUNCATED),
            bool(self.flags & REASONING),
        )


# The one sample-name pattern (sftkit.output.layout re-exports it): `<p>_<s>.jsonl`, canonical
# numbers only, as the generator writes them: "007_1.jsonl" is a name of its own, not "7_1.jsonl".
SAMPLE_NAME = re.compile(r"(0|[1-9][0-9]*)_(0|[1-9][0-9]*)\.jsonl")


def parse_name(name: str) -> tuple[int, int] | None:
    """ "12_3.jsonl" -> (12, 3); anything else ("007_1.jsonl", ".3_1.jsonl.x.tmp") -> None."""
    m = SAMPLE_NAME.fullmatch(name)
    return (int(m[1]), int(m[2])) if m else None


def verdict_flags(line: dict) -> int:
    """Flags of one verdict-log line: {"is_correct": true, "reason": "match_exact"} -> VERDICT |
    CORRECT (| STAMPED when it carries integer `mtime_ns` and `size`)."""
    flags = VERDICT
    flags |= CORRECT if line.get("is_correct") else 0
    flags |= NO_BOX if line.get("reason") == "no_box" else 0
    flags |= ERROR if line.get("error") else 0
    if isinstance(line.get("mtime_ns"), int) and isinstance(line.get("size"), int):
        flags |= STAMPED
    return flags


def _with_figures(flags: int, line: dict) -> tuple[int, int, int]:
    """(flags with the figure bits, prompt tokens, completion tokens) of a verdict line: what
    sftkit.output.figures.line_figures accepts, inlined (a million lines at a start)."""
    get = line.get
    prompt, completion = get("prompt_tokens"), get("completion_tokens")
    truncated, reasoning = get("truncated"), get("with_reasoning")
    if (
        type(completion) is not int
        or type(prompt) is not int
        or type(truncated) is not bool
        or type(reasoning) is not bool
        or not (-TOKEN_LIMIT <= prompt < TOKEN_LIMIT and -TOKEN_LIMIT <= completion < TOKEN_LIMIT)
    ):
        return flags, 0, 0
    flags |= FIGURES | (TRUNCATED if truncated else 0) | (REASONING if reasoning else 0)
    return flags, prompt, completion


class _Slots:
    """name -> packed 36-byte slot, per problem in one bytearray."""

    def __init__(self) -> None:
        self.problems: dict[int, bytearray] = {}
        self.other: dict[str, bytes] = {}

    def read(self, name: str, key: tuple[int, int] | None) -> Entry | None:
        """The entry of `name` (whose parse_name() is `key`), or None."""
        if key is None or key[1] >= DENSE_LIMIT:
            raw = self.other.get(name)
            return None if raw is None else Entry(*_SLOT.unpack(raw))
        row = self.problems.get(key[0])
        off = key[1] * _SLOT.size
        if row is None or off >= len(row) or not row[off]:
            return None
        return Entry(*_SLOT.unpack_from(row, off))

    def write(self, name: str, key: tuple[int, int] | None, entry: Entry) -> None:
        if key is None or key[1] >= DENSE_LIMIT:
            self.other[name] = _SLOT.pack(*entry)
            return
        p, s = key
        row = self.problems.get(p)
        if row is None:
            row = self.problems[p] = bytearray()
        off = s * _SLOT.size
        if off >= len(row):
            row.extend(_EMPTY * (s + 1 - len(row) // _SLOT.size))
        _SLOT.pack_into(row, off, *entry)

    def items(self) -> Iterator[tuple[str, Entry]]:
        for p, row in self.problems.items():
            for s in range(len(row) // _SLOT.size):
                if row[s * _SLOT.size]:
                    yield f"{p}_{s}{SAMPLE_SUFFIX}", Entry(*_SLOT.unpack_from(row, s * _SLOT.size))
        for name, raw in self.other.items():
            yield name, Entry(*_SLOT.unpack(raw))


def stale(entry: Entry, st: os.stat_result) -> bool:
    """The one staleness rule: True when a sample file is no longer the content its verdict
    graded: a different stamp (size, mtime_ns), or, for a verdict line written before stamps were
    kept, a file modified after the line's `graded_at` (kept in mtime_ns; -1 when unknown).

    Entry(STAMPED, 120, 5, 0) vs a file of 130 bytes -> True
    """
    flags, size, mtime_ns = entry[0], entry[1], entry[2]  # an Entry, or a slot's raw fields
    if flags & STAMPED:
        return (mtime_ns, size) != (st.st_mtime_ns, st.st_size)
    return mtime_ns >= 0 and st.st_mtime_ns > mtime_ns


def holds(entry: Entry, st: os.stat_result) -> bool:
    """A verdict still holds for the file found now: the same inode, or none noted yet, and not
    stale(). An Entry, or a slot's raw fields in Entry order."""
    return entry[3] in (0, st.st_ino) and not stale(entry, st)


def _stat(entry: os.DirEntry) -> os.stat_result | None:
    try:
        return entry.stat()
    except OSError:
        return None  # gone since the listing


class VerdictIndex:
    """The latest verdict of each sample file of one `<source>/<type>` folder, compactly.

    `counts` (graded, correct, no_box, errors) cover the entries marked live: a verdict whose
    sample file is gone stays in the index but does not count, as in the report.
    """

    def __init__(self) -> None:
        self._slots = _Slots()
        self.errors: dict[str, str] = {}  # name -> error of its latest verdict (rare)
        self.counts = {"graded": 0, "correct": 0, "no_box": 0, "errors": 0}
        self.size = 0  # names with a verdict
        self.log_lines = 0  # lines of the verdict log this index holds (sftkit.watching.checkpoint)
        self.checkpoint_lines = 0  # log_lines when a checkpoint last held this index
        self.unverified = 0  # entries confirm_listed() took on trust (inode only)

    def slots(self) -> tuple[dict[int, bytearray], dict[str, bytes]]:
        """The packed slots, per problem and for odd names: what a checkpoint saves."""
        return self._slots.problems, self._slots.other

    @classmethod
    def from_slots(
        cls, problems: dict[int, bytearray], other: dict[str, bytes], errors: dict[str, str],
        size: int,
    ) -> VerdictIndex:  # fmt: skip
        """An index of saved slots, none of them live (their LIVE flags must be clear)."""
        index = cls()
        index._slots.problems, index._slots.other = problems, other
        index.errors, index.size = errors, size
        return index

    def __len__(self) -> int:
        return self.size

    def load(self, lines: Iterable[dict]) -> None:
        """Record verdict-log lines in log order (the last line per file wins), none live yet:
        a restart's bulk load, so record() is inlined here (a million lines in seconds).

        A `file` value with a folder part ("src/multiples/3_0.jsonl") counts by its base name.
        """
        problems, size, pack_into, match = (
            self._slots.problems,
            _SLOT.size,
            _SLOT.pack_into,
            SAMPLE_NAME.fullmatch,
        )
        for line in lines:
            name = line.get("file")
            if not isinstance(name, str):
                continue
            if "/" in name:
                name = name.rsplit("/", 1)[-1]
            m = match(name)
            s = int(m[2]) if m else DENSE_LIMIT
            if s >= DENSE_LIMIT:
                self.record(name, line, live=False)
                continue
            p = int(m[1])
            row = problems.get(p)
            if row is None:
                row = problems[p] = bytearray()
            off = s * size
            if off >= len(row):
                row.extend(_EMPTY * (s + 1 - len(row) // size))
            elif row[off]:
                # Seen before: keep what record() keeps (its inode); counts are not live yet.
                self.record(name, line, live=False)
                continue
            self.size += 1
            flags, prompt, completion = _with_figures(verdict_flags(line), line)
            if flags & STAMPED:
                pack_into(row, off, flags, line["size"], line["mtime_ns"], 0, prompt, completion)
            else:
                graded = line.get("graded_at")
                mtime = int(graded * 1e9) if isinstance(graded, int | float) else -1
                pack_into(row, off, flags, -1, mtime, 0, prompt, completion)
            if flags & ERROR:
                self.errors[name] = str(line["error"])

    def get(self, name: str) -> Entry | None:
        return self._slots.read(name, parse_name(name))

    def record(self, name: str, line: dict, live: bool = True, inode: int = 0) -> None:
        """Set the latest verdict of `name` from its log line; `inode` of the graded file if
        known (else the one seen before is kept)."""
        key = parse_name(name)
        old = self._slots.read(name, key)
        if old is None:
            self.size += 1
        elif old.flags & LIVE:
            self._count(old.flags, -1)
        flags, prompt, completion = _with_figures(verdict_flags(line), line)
        if flags & STAMPED:
            size, mtime = line["size"], line["mtime_ns"]
        else:
            graded = line.get("graded_at")
            size, mtime = -1, int(graded * 1e9) if isinstance(graded, int | float) else -1
        if flags & ERROR:
            self.errors[name] = str(line["error"])
        else:
            self.errors.pop(name, None)
        if live:
            flags |= LIVE
            self._count(flags, +1)
        inode = inode or (old.inode if old else 0)
        self._slots.write(name, key, Entry(flags, size, mtime, inode, prompt, completion))

    def confirm(self, name: str, st: os.stat_result) -> bool | None:
        """Check a recorded verdict against its file as found now (listing or event), in one
        read and at most one write: True if it still holds (same inode, or none noted yet, and
        not stale): marked live, inode noted; False if not: marked not live, to be regraded;
        None if `name` has no verdict. A start-up listing calls this for every stored sample.
        """
        key = parse_name(name)
        row = self._slots.problems.get(key[0]) if key and key[1] < DENSE_LIMIT else None
        if row is None:
            e = self._slots.read(name, key)  # not packed in a row: the general path
            if e is None:
                return None
            held = holds(e, st)
            self.mark(name, e, live=held, inode=st.st_ino)
            return held
        off = key[1] * _SLOT.size
        if off >= len(row) or not row[off]:
            return None
        return self._confirm_slot(row, off, st)

    def confirm_listed(
        self, entries: Iterable[tuple[os.DirEntry, re.Match]], trust_inode: bool = False
    ) -> Iterator[tuple[str, os.stat_result]]:
        """confirm() for each file of a full listing, in one loop (a restart at a million samples
        checks each): (DirEntry, its SAMPLE_NAME match) in; (name, stat) out for each file without
        a verdict or whose verdict no longer holds. A file gone meanwhile is skipped.
        `trust_inode`: a verdict whose noted inode is the entry's (free from the listing) holds
        without a stat, as between full listings; the caller checks the stamps later."""
        problems, size = self._slots.problems, _SLOT.size
        unpack, pack = _SLOT.unpack_from, _SLOT.pack_into
        now_live: dict[int, int] = {}  # flags -> entries of those flags that became live
        try:
            for entry, m in entries:
                name = entry.name
                s = int(m[2])
                row = problems.get(int(m[1])) if s < DENSE_LIMIT else None
                off = s * size
                if row is None or off >= len(row) or not row[off]:
                    st = _stat(entry)  # the general path: odd name, no verdict
                    if st is not None and not self.confirm(name, st):
                        yield name, st
                    continue
                raw = unpack(row, off)
                flags, inode = raw[0], raw[3]
                if trust_inode and inode and inode == entry.inode():
                    ino = inode
                    self.unverified += 1
                else:
                    st = _stat(entry)
                    if st is None:
                        continue
                    ino = st.st_ino
                    if not holds(raw, st):
                        self._confirm_slot(row, off, st)  # marks it not live
                        yield name, st
                        continue
                if not flags & LIVE:  # the common case at a start: it holds, now live
                    pack(row, off, flags | LIVE, raw[1], raw[2], ino, raw[4], raw[5])
                    now_live[flags] = now_live.get(flags, 0) + 1
                elif inode != ino:
                    pack(row, off, flags, raw[1], raw[2], ino, raw[4], raw[5])
        finally:
            for flags, n in now_live.items():
                self._count(flags, n)

    def _confirm_slot(self, row: bytearray, off: int, st: os.stat_result) -> bool:
        """confirm() of the verdict packed at row[off]: holds() marks it live or not."""
        raw = _SLOT.unpack_from(row, off)
        flags, size, mtime, inode, prompt, completion = raw
        held = holds(raw, st)
        new = flags | LIVE if held else flags & ~LIVE
        if new != flags:
            self._count(flags, +1 if held else -1)
        if new != flags or inode != st.st_ino:
            _SLOT.pack_into(row, off, new, size, mtime, st.st_ino, prompt, completion)
        return held

    def confirm_inode(self, name: str, inode: int) -> bool | None:
        """A listing's cheap check (the inode comes free with the directory entry): True if
        `name` has a verdict for this very inode (marked live), False if its inode is unknown
        or differs (stat it and confirm()), None if it has no verdict."""
        e = self.get(name)
        if e is None:
            return None
        if not e.inode or e.inode != inode:
            return False
        if not e.flags & LIVE:
            self.mark(name, e, live=True)
        return True

    def mark(self, name: str, entry: Entry, live: bool, inode: int = 0) -> None:
        """Set whether `name` (whose current entry, from get(), is `entry`) is live, and its
        inode if given, in one write (a start-up listing does this for every stored sample)."""
        flags = entry.flags | LIVE if live else entry.flags & ~LIVE
        inode = inode or entry.inode
        if flags == entry.flags and inode == entry.inode:
            return
        if flags != entry.flags:
            self._count(entry.flags, +1 if live else -1)
        self._slots.write(name, parse_name(name), entry._replace(flags=flags, inode=inode))

    def is_stale(self, name: str, st: os.stat_result) -> bool:
        """stale() of the verdict of `name`; no verdict -> False."""
        e = self.get(name)
        return e is not None and stale(e, st)

    def items(self) -> Iterator[tuple[str, Entry]]:
        """(name, entry) of every recorded verdict, live or not, problem by problem."""
        return self._slots.items()

    def live_errors(self) -> list[tuple[str, str]]:
        """(name, error) of the live entries whose latest verdict is an error."""
        found = []
        for name, error in self.errors.items():
            e = self.get(name)
            if e is not None and e.flags & LIVE:
                found.append((name, error))
        return found

    def _count(self, flags: int, sign: int) -> None:
        c = self.counts
        c["graded"] += sign
        c["correct"] += sign * bool(flags & CORRECT)
        c["no_box"] += sign * bool(flags & NO_BOX)
        c["errors"] += sign * bool(flags & ERROR)


class SampleSet:
    """A set of sample file names `<p>_<s>.jsonl` kept as one bit per sample: the generator's
    record of what is stored. Supports `in`, add() and len() like the set of names it replaces.

    SampleSet(["0_0.jsonl", "0_3.jsonl"]) holds {0: 0b1001}; "0_3.jsonl" in it -> True.
    """

    def __init__(self, names: Iterable[str] = ()) -> None:
        self._bits: dict[int, int] = {}
        self._other: set[str] = set()
        self._len = 0
        for name in names:
            self.add(name)

    def add(self, name: str) -> None:
        key = parse_name(name)
        if key is None or key[1] >= DENSE_LIMIT:
            if name not in self._other:
                self._other.add(name)
                self._len += 1
            return
        p, s = key
        bits = self._bits.get(p, 0)
        if not bits >> s & 1:
            self._bits[p] = bits | 1 << s
            self._len += 1

    def __contains__(self, name: object) -> bool:
        if not isinstance(name, str):
            return False
        key = parse_name(name)
        if key is None or key[1] >= DENSE_LIMIT:
            return name in self._other
        return bool(self._bits.get(key[0], 0) >> key[1] & 1)

    def __len__(self) -> int:
        return self._len

    def __iter__(self) -> Iterator[str]:
        for p, bits in self._bits.items():
            s = 0
            while bits:
                if bits & 1:
                    yield f"{p}_{s}{SAMPLE_SUFFIX}"
                bits >>= 1
                s += 1
        yield from self._other

    def samples(self, p: int) -> list[int]:
        """Sample indices stored for problem p: SampleSet(["2_0.jsonl", "2_5.jsonl"]).samples(2)
        -> [0, 5]."""
        bits, s, found = self._bits.get(p, 0), 0, []
        while bits:
            if bits & 1:
                found.append(s)
            bits >>= 1
            s += 1
        return found
