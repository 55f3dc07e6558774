"""The watcher's state: folders seen, files pending and in flight, verdicts recorded, lags.

Watcher(cfg).scan(full=True, final=False) -> batches to grade; .record(folder, graded) writes the
validated copies, then the verdict lines; .write_status() -> <output>/.status.json.
"""

from __future__ import annotations

import json
import math
import os
import re
import sys
import time
from collections import deque
from collections.abc import Iterator
from concurrent.futures import FIRST_COMPLETED, wait
from dataclasses import dataclass, field
from itertools import chain, islice
from pathlib import Path

from pebble import ProcessExpired, ProcessPool

from sftkit.common.jsonl import append_jsonl, atomic_write_jsonl, atomic_write_text
from sftkit.common.table import text_table
from sftkit.output import layout
from sftkit.output.figures import sample_figures
from sftkit.output.layout import Incomplete, read_sample
from sftkit.watching import checkpoint
from sftkit.watching.config import Config
from sftkit.watching.filewatch import FolderEvents
from sftkit.watching.grading_pool import _failed, grade_batch
from sftkit.watching.index import VerdictIndex

# A folder whose mtime changed this recently is listed again even if its mtime looks unchanged:
# mtimes are coarse, and a file created in the same tick as our last listing would be missed.
RECENT_S = 2.0
# Kernel events can be lost (a full queue) or never sent (many network file systems): every folder
# is listed again this often, so a file is found at the latest then whatever its producer.
SWEEP_S = 300.0
# A restart trusts the inodes its checkpoint noted (sftkit.watching.checkpoint) and then checks
# every file's size and mtime in the background, this many files a poll (about 0.3 s of work).
VERIFY_PER_POLL = 50_000


# --- bookkeeping per <source>/<type> folder ---------------------------------------------------


@dataclass
class Pending:
    key: tuple[int, int]  # (mtime_ns, size) at the last read attempt: the stamp of what was read
    appeared: float  # its mtime, or this run's start for older files: where lag is measured from
    tries: int = 0


@dataclass
class Folder:
    path: Path  # <source>/<type>
    # Latest verdict per file name, compactly (sftkit.watching.index): with the inode seen for it (a file
    # replaced under the same name has a new one) and whether its sample file exists (`live`:
    # what the totals count; a log line for a sample deleted since stays, uncounted).
    index: VerdictIndex = field(default_factory=VerdictIndex)
    pending: dict[str, Pending] = field(default_factory=dict)
    inflight: set[str] = field(default_factory=set)
    # (mtime_ns, size, inode) of the content being graded: set when read, recorded with its verdict.
    read_stamps: dict[str, tuple[int, int, int]] = field(default_factory=dict)

    @property
    def source(self) -> str:
        return self.path.parent.name

    @property
    def type(self) -> str:
        return self.path.name

    @property
    def log(self) -> Path:
        return layout.verdict_log(self.path)

    @property
    def validated(self) -> Path:
        return layout.validated_dir(self.path)


def read_verdicts(path: Path) -> VerdictIndex:
    """Latest verdict per file name, compactly (a million fit in tens of megabytes); a torn or
    foreign line is skipped with a warning."""
    index, bad = layout.read_verdict_index(path)
    for lineno in bad:
        print(
            f"[watcher] warning: {path}:{lineno}: unreadable verdict line skipped", file=sys.stderr
        )
    return index


# --- the watcher -----------------------------------------------------------------------------


@dataclass
class Batch:
    folder: Folder
    items: list[tuple[str, dict, float]]  # (file name, record, appeared)


class Watcher:
    """All state of one run: folders seen, files pending and in flight, verdicts, lags.

    Per poll the cost is O(new files): kernel events (sftkit.watching.filewatch) name the files that
    changed, so a folder is listed only at start-up, once the stop file is seen, on a periodic
    sweep, or every poll where events are unavailable (and then only when its mtime changed).
    """

    def __init__(self, cfg: Config):
        self.cfg = cfg
        self.folders: dict[Path, Folder] = {}
        self.dir_mtime: dict[Path, int] = {}
        self.dir_subdirs: dict[Path, list[Path]] = {}
        self.futures: dict = {}  # future -> Batch
        self.lags: deque[float] = deque(maxlen=5000)
        self.started = time.time()
        self.events = FolderEvents(enabled=not (cfg.poll or cfg.once))
        self.changes = None  # events drained this poll
        self.evented: set[str] = set()  # folders with events this poll
        self.quiet: dict[Path, int] = {}  # watched folder -> mtime that changed without an event
        self.reconciled = False
        self.abort_signal = 0
        self.verifying: dict[Path, Iterator[tuple[os.DirEntry, re.Match]]] = {}  # see _verify
        self.incomplete_reads = 0  # reads that found a file not yet complete (in .status.json)
        self.last_progress = ""
        self.last_progress_at = 0.0

    def folder(self, path: Path) -> Folder:
        f = self.folders.get(path)
        if f is None:
            f = self.folders[path] = Folder(path)
            # Restart safety: what the log says was graded is done, unless --rescan.
            if not self.cfg.rescan:
                f.index = read_verdicts(f.log)
        return f

    def _must_list(self, path: Path, mtime: int, sweep: bool, now_ns: int) -> bool:
        """Whether to list a folder this poll (see the class docstring)."""
        if sweep or not self.events.watching(path):
            fresh = now_ns - mtime < RECENT_S * 1e9
            return sweep or fresh or self.dir_mtime.get(path) != mtime
        if str(path) in self.changes.folders:
            return True  # it gained a subfolder
        if mtime == self.dir_mtime.get(path) or str(path) in self.evented:
            self.dir_mtime[path] = mtime  # its changes were reported
            self.quiet.pop(path, None)
            return False
        if self.quiet.get(path) != mtime:
            self.quiet[path] = mtime  # changed, no event yet: give it until the next poll
            return False
        # A whole poll later still no event: this file system sends none here.
        print(f"[watcher] no file events from {path}; listing it when it changes", flush=True)
        self.events.forget(path)
        return True

    def _walk(self, full: bool, sweep: bool, trust: bool = False) -> None:
        """Visit watched folders; list one only when needed (`_must_list`). `full` (start, stop
        file, --once) also compares every graded file's size and mtime with its verdict; with
        `trust` (a live start) a file whose inode its checkpoint noted is checked later (_verify)."""
        if full and not trust:
            self._stop_verifying()  # this listing checks every file itself
        now_ns = time.time_ns()
        stack = [(d, 0) for d in self.cfg.watch_dirs]
        while stack:
            path, depth = stack.pop()
            try:
                mtime = path.stat().st_mtime_ns
            except OSError:
                continue  # not created yet
            # Watch before listing: a file landing in between is in the listing or in the events.
            new_watch = self.events.available and path not in self.dir_mtime
            if new_watch:
                self.events.watch(path)
            if not (new_watch or self._must_list(path, mtime, sweep or full, now_ns)):
                subdirs = self.dir_subdirs.get(path, [])
            else:
                subdirs = self._list(path, full, trust)
                if subdirs is None:
                    continue
                self.dir_mtime[path] = mtime
                self.dir_subdirs[path] = subdirs
            if depth < 3:
                stack.extend((s, depth + 1) for s in subdirs)

    def _list(self, path: Path, full: bool, trust: bool = False) -> list[Path] | None:
        """List a folder: consider its sample files, return its subfolders (None if it cannot
        be listed). Entries are handled as they come: a million never sit in memory at once."""
        subdirs: list[Path] = []
        folder = None
        samples = self._sample_entries(path, subdirs)
        try:
            first = next(samples, None)
            if first is not None:
                folder = self.folder(path)
                listed = chain([first], samples)
                if full:
                    self._confirm_listed(folder, listed, trust)
                else:
                    for entry, _ in listed:
                        self._consider(folder, entry.name, entry)
        except OSError:
            return None
        finally:
            samples.close()
        if trust and folder is not None and folder.index.unverified:
            self.verifying[path] = self._sample_entries(path)  # only what was taken on trust
        return subdirs

    @staticmethod
    def _sample_entries(
        path: Path, subdirs: list[Path] | None = None
    ) -> Iterator[tuple[os.DirEntry, re.Match]]:
        """(entry, SAMPLE_NAME match) of each sample file in `path`, listed lazily; its other
        folders (not hidden, not `_validated` or merged) go to `subdirs`. By descriptor: each
        entry's stat() is then relative to it, a fifth cheaper than by path, which counts at a
        restart that checks a million files."""
        match = layout.SAMPLE_NAME.fullmatch
        fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
        try:
            with os.scandir(fd) as it:
                for entry in it:
                    name = entry.name
                    # A sample name first: a million of them at a restart, few folders.
                    if (m := match(name)) and not entry.is_dir(follow_symlinks=False):
                        yield entry, m
                    elif subdirs is None or name.startswith(".") or m:
                        continue
                    elif entry.is_dir(follow_symlinks=False) and not layout.is_output_dir(name):
                        subdirs.append(path / name)
        finally:
            os.close(fd)

    def _verify(self) -> None:
        """After a trusted start: compare up to VERIFY_PER_POLL more files' size and mtime with
        their verdicts (a rewrite in place while the watcher was down keeps the inode), so the
        check ends within minutes at a million samples; the stop file's full listing ends it."""
        budget = VERIFY_PER_POLL
        for path in list(self.verifying):
            try:
                read = self._confirm_listed(
                    self.folders[path], islice(self.verifying[path], budget)
                )
            except OSError:  # the folder went away: its next listing sees to it
                read = 0
            if read < budget:  # listed to the end (or gone)
                self.verifying.pop(path).close()
            budget -= read
            if budget <= 0:
                return

    def _stop_verifying(self) -> None:
        for entries in self.verifying.values():
            entries.close()  # closes its listing
        self.verifying.clear()

    def _confirm_listed(
        self, folder: Folder, listed: Iterator[tuple[os.DirEntry, re.Match]], trust: bool = False
    ) -> int:
        """A full listing's files (start, stop file, --once, a restart's check), each not pending
        or in flight: pending unless its verdict still holds (size and mtime, so a rewrite in
        place counts; with `trust`, an inode noted by the checkpoint). Returns how many it read."""
        read = 0

        def todo():
            nonlocal read
            for pair in listed:
                read += 1
                if pair[0].name not in folder.inflight and pair[0].name not in folder.pending:
                    yield pair

        for name, st in folder.index.confirm_listed(todo(), trust):
            folder.pending[name] = Pending((-1, -1), max(st.st_mtime, self.started))
        return read

    def _on_events(self) -> None:
        """Consider each sample file that events named in a folder being watched."""
        for dirname, names in self.changes.files.items():
            path = Path(dirname)
            if path not in self.dir_mtime:
                continue  # not a folder of ours (yet): its first listing finds its files
            folder = self.folders.get(path)
            for name in names:
                if layout.SAMPLE_NAME.fullmatch(name):
                    folder = folder or self.folder(path)
                    self._consider(folder, name, None)

    def _consider(self, folder: Folder, name: str, entry: os.DirEntry | None) -> None:
        """A sample file seen in a listing between full ones (`entry`) or named by an event:
        pending unless its verdict still holds."""
        if name in folder.inflight or name in folder.pending:
            return
        # A verdict holds while the file is what it graded. A full listing (start, stop file,
        # --once: _confirm_listed) compares size and mtime, which also catches a rewrite in place;
        # between, a changed inode (free from scandir) catches a file replaced under the same
        # name, and an event (the file was written or renamed onto) always looks.
        index = folder.index
        if entry is not None and index.confirm_inode(name, entry.inode()):
            return
        try:
            st = entry.stat() if entry is not None else os.stat(folder.path / name)
        except OSError:
            return  # gone
        if not index.confirm(name, st):  # else graded by an earlier run (now counted), or this one
            folder.pending[name] = Pending((-1, -1), max(st.st_mtime, self.started))

    def scan(
        self, full: bool, final: bool, sweep: bool = False, trust: bool = False
    ) -> list[Batch]:
        """Find new files, read the pending ones, and return batches ready to grade. `trust`:
        a live start, whose full listing may trust inodes a checkpoint noted (see _walk)."""
        self.changes = self.events.drain()
        evented = set(self.changes.files) | self.changes.folders
        self.evented = evented | self.evented  # this poll's and the last one's
        verify = bool(self.verifying)  # from an earlier poll: a start's listing is work enough
        self._walk(full, sweep or self.changes.overflowed, trust)
        self._on_events()
        if verify:
            self._verify()
        self.evented = evented
        batches: list[Batch] = []
        for folder in self.folders.values():
            ready: list[tuple[str, dict, float]] = []
            for name, pend in list(folder.pending.items()):
                path = folder.path / name
                try:
                    st = path.stat()
                except FileNotFoundError:
                    del folder.pending[name]  # vanished (renamed away by its producer)
                    continue
                key = (st.st_mtime_ns, st.st_size)
                # A file still growing is a producer writing in place: do not count that try.
                pend.tries = pend.tries + 1 if (final or key == pend.key) else 1
                pend.key = key
                # Stamped before the read: if the file changes in between, the stamp is the older
                # one and the next look grades it again; a verdict never sticks to newer content.
                folder.read_stamps[name] = (*key, st.st_ino)
                last_try = pend.tries >= self.cfg.max_tries
                try:
                    record = read_sample(path, lenient=last_try)
                except (Incomplete, OSError) as exc:
                    self.incomplete_reads += 1
                    if last_try:
                        del folder.pending[name]
                        self._give_up(folder, name, pend, str(exc))
                    continue
                del folder.pending[name]
                ready.append((name, record, pend.appeared))
            ready.sort(key=lambda item: item[2])
            batches.extend(self._batches(folder, ready))
        # Oldest first: a file that waited a whole interval is graded before one that just landed,
        # which keeps the lag tail near the interval instead of interval + the whole poll's work.
        batches.sort(key=lambda b: b.items[0][2])
        return batches

    def _batches(self, folder: Folder, ready: list) -> list[Batch]:
        if not ready:
            return []
        # Enough batches to keep every worker busy, none larger than batch_size.
        size = max(1, min(self.cfg.batch_size, math.ceil(len(ready) / self.cfg.workers)))
        return [Batch(folder, ready[i : i + size]) for i in range(0, len(ready), size)]

    def _give_up(self, folder: Folder, name: str, pend: Pending, why: str) -> None:
        print(f"[watcher] error: {why} (after {pend.tries} tries); skipped", file=sys.stderr)
        self.record(folder, [(name, None, _failed(None, "unparseable", why), pend.appeared)])

    def submit(self, pool: ProcessPool, batch: Batch) -> None:
        fut = pool.schedule(
            grade_batch, args=([rec for _, rec, _ in batch.items],), timeout=self.cfg.timeout
        )
        self.futures[fut] = batch
        batch.folder.inflight.update(name for name, _, _ in batch.items)

    def collect(self, pool: ProcessPool, timeout: float) -> None:
        """Wait up to `timeout` s for finished batches and record their verdicts."""
        if not self.futures:
            time.sleep(max(0.0, timeout))
            return
        done, _ = wait(list(self.futures), timeout=max(0.0, timeout), return_when=FIRST_COMPLETED)
        for fut in done:
            batch = self.futures.pop(fut)
            batch.folder.inflight.difference_update(name for name, _, _ in batch.items)
            try:
                verdicts = fut.result()
            except Exception as exc:
                self._batch_failed(pool, batch, exc)
                continue
            graded = [
                (name, record, verdict, appeared)
                for (name, record, appeared), verdict in zip(batch.items, verdicts, strict=True)
            ]
            self.record(batch.folder, graded)

    def _batch_failed(self, pool: ProcessPool, batch: Batch, exc: BaseException) -> None:
        if len(batch.items) > 1:
            # Find the culprit: every item again on its own, each under the hard limit.
            for item in batch.items:
                self.submit(pool, Batch(batch.folder, [item]))
            return
        name, record, appeared = batch.items[0]
        where = batch.folder.path / name
        if isinstance(exc, TimeoutError):
            print(
                f"[watcher] {where}: grading exceeded {self.cfg.timeout:g}s; verdict timeout",
                file=sys.stderr,
            )
            verdict = _failed(record, "timeout", None)
        else:
            kind = "worker crashed" if isinstance(exc, ProcessExpired) else type(exc).__name__
            print(f"[watcher] error: {where}: {kind}: {exc}", file=sys.stderr)
            verdict = _failed(record, "unparseable", f"{kind}: {exc}")
        self.record(batch.folder, [(name, record, verdict, appeared)])

    def record(self, folder: Folder, graded: list[tuple[str, dict | None, dict, float]]) -> None:
        """Record (name, record, verdict, appeared) items: validated copies first, then the
        verdict lines in one append.

        That order means a crash in between leaves no verdict, so a restart simply regrades.
        """
        now = time.time()
        lines, inodes = [], []
        index = folder.index
        for name, record, verdict, appeared in graded:
            p, s = layout.parse_sample_name(name)
            line = {
                "file": name,
                "problem_index": p,
                "sample_index": s,
                "is_correct": verdict["is_correct"],
                "extracted_answer": verdict["extracted_answer"],
                "ground_truth": verdict["ground_truth"],
                "reason": verdict["reason"],
                "graded_at": round(now, 3),
            }
            stamp = folder.read_stamps.pop(name, None)
            if stamp is not None:
                line["mtime_ns"], line["size"] = stamp[:2]
            if verdict.get("error"):
                line["error"] = verdict["error"]
            line.update(sample_figures(record))  # tokens etc.: the report need not read the file
            if line["is_correct"] and record is not None:
                atomic_write_jsonl(
                    folder.validated / name, [layout.validated_record(record, verdict)]
                )
            else:
                old = index.get(name)
                if old is None or old.correct:  # a copy may exist: an earlier correct verdict
                    (folder.validated / name).unlink(missing_ok=True)
            lines.append(line)
            inodes.append(stamp[2] if stamp else 0)
            self.lags.append(max(0.0, now - appeared))
        append_jsonl(folder.log, *lines)
        index.log_lines += len(lines)
        for line, inode in zip(lines, inodes, strict=True):
            index.record(line["file"], line, live=True, inode=inode)  # the last verdict wins

    def checkpoint(self, final: bool = False) -> None:
        """Save the index of each big verdict log (sftkit.watching.checkpoint) when it was read
        whole at start, every EVERY_LINES lines since, and at the end (`final`), so a restart
        parses at most that many lines. Not under --rescan: its index is not its log's."""
        if self.cfg.rescan:
            return
        for f in self.folders.values():
            index = f.index
            new = index.log_lines - index.checkpoint_lines
            due = final or not index.checkpoint_lines or new >= checkpoint.EVERY_LINES
            if index.log_lines < checkpoint.MIN_LINES or new <= 0 or not due:
                continue
            try:
                checkpoint.save(index, f.log, layout.index_checkpoint(f.log))
            except OSError as exc:  # a cache: a restart without it reads the whole log
                print(f"[watcher] warning: no checkpoint of {f.log}: {exc}", file=sys.stderr)
                index.checkpoint_lines = index.log_lines  # not again before EVERY_LINES more

    def reconcile(self) -> int:
        """After a rescan: `_validated/` holds exactly the files whose latest verdict is correct."""
        removed = 0
        for folder in self.folders.values():
            found, odd = layout.list_sample_files(folder.validated)
            names = [name for _, _, name in found] + odd
            for name in names:
                v = folder.index.get(name)
                if not (v and v.correct):
                    (folder.validated / name).unlink(missing_ok=True)
                    removed += 1
        if removed:
            print(f"[watcher] rescan: removed {removed} stale validated copies")
        return removed

    def unreadable(self) -> list[str]:
        """ "path: error" for each sample file whose latest verdict is an error (unreadable file,
        grader crash), sorted."""
        found = []
        for f in self.folders.values():
            for name, error in f.index.live_errors():
                # A read error names its file already ("<path>:1: invalid JSON").
                path = str(f.path / name)
                found.append(error if error.startswith(path) else f"{path}: {error}")
        return sorted(found)

    def busy(self) -> bool:
        return bool(self.futures) or any(f.pending for f in self.folders.values())

    # --- visibility ---------------------------------------------------------------------------

    def totals(self) -> dict:
        c = {k: sum(f.index.counts[k] for f in self.folders.values()) for k in COUNTS}
        pending = sum(len(f.pending) + len(f.inflight) for f in self.folders.values())
        return {
            "graded": c["graded"],
            "correct": c["correct"],
            "incorrect": c["graded"] - c["correct"],
            "no_box": c["no_box"],
            "pending": pending,
            "errors": c["errors"],
            "lag_p95": round(percentile(self.lags, 95), 3) if self.lags else None,
            "incomplete_reads": self.incomplete_reads,
            "verifying_folders": len(self.verifying),  # a restart's background check (_verify)
        }

    def write_status(self, stopped: bool) -> dict:
        status = {**self.totals(), "updated_at": round(time.time(), 3), "stopped": stopped}
        atomic_write_text(layout.status_file(self.cfg.output_dir), json.dumps(status) + "\n")
        return status

    def progress(self, status: dict) -> None:
        graded = status["graded"]
        pct = 100.0 * status["correct"] / graded if graded else 0.0
        lag = f"{status['lag_p95']:.2f}s" if status["lag_p95"] is not None else "-"
        text = (
            f"[watcher] graded {graded} | correct {status['correct']} ({pct:.1f}%) | "
            f"pending {status['pending']} | lag p95 {lag}"
        )
        now = time.monotonic()
        if sys.stdout.isatty():
            print(f"\r{text}\x1b[K", end="", flush=True)
        elif text != self.last_progress or now - self.last_progress_at > 60:
            # In a log file print only changes (and a heartbeat), not one line per poll forever.
            print(text, flush=True)
        else:
            return
        self.last_progress, self.last_progress_at = text, now

    def table(self) -> str:
        head = ("source", "type", "files", "correct", "incorrect", "no box", "errors", "accuracy")
        rows = []
        tot = [0, 0, 0, 0, 0]
        for f in sorted(self.folders.values(), key=lambda f: (f.source, f.type)):
            n, c, nb, er = (f.index.counts[k] for k in COUNTS)
            for i, x in enumerate((n, c, n - c, nb, er)):
                tot[i] += x
            rows.append(
                (f.source, f.type, n, c, n - c, nb, er, f"{100 * c / n:.1f}%" if n else "-")
            )
        n, c = tot[0], tot[1]
        total = ("TOTAL", "", *tot, f"{100 * c / n:.1f}%" if n else "-")
        return "\n".join(text_table(head, rows, total, sep="  "))


COUNTS = ("graded", "correct", "no_box", "errors")


def percentile(values, q: float) -> float:
    """Nearest-rank percentile: percentile([1, 2, 3, 4], 50) -> 2."""
    s = sorted(values)
    return s[max(0, math.ceil(q / 100 * len(s)) - 1)]
