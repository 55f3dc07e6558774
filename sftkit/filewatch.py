"""Which files changed in a set of folders, from the kernel (inotify, through watchdog), so a
watcher learns of new samples without listing folders that hold a million of them.

Usage:
    events = FolderEvents()                 # events.available is False where inotify cannot start
    if events.watch("out/src/multiples"):   # True: changes there are reported from now on
        names = os.listdir("out/src/multiples")   # list AFTER watch(): nothing falls in between
    ...
    changed = events.drain()   # Changes(files={"/abs/out/src/multiples": {"3_0.jsonl"}},
                               #         folders={"/abs/out/src"}, overflowed=False)
    events.close()

Only names are reported, never content: the caller stats and reads what it is told about, and
still lists every folder now and then (start-up, a periodic sweep, `overflowed`), because events
can be lost (a full kernel queue) or never sent (many network file systems). A folder whose
watch cannot be added (watch() returns False), or all folders with `FolderEvents(enabled=False)`,
are the caller's to poll.

Reported: a file created, moved in (a temp file renamed to its final name), or closed after
writing, in a watched folder (`files`); a folder created or moved into a watched folder
(`folders`: its parent, to be listed again). Watches are not recursive: the caller watches the
folders it cares about, so the watcher's own writes (`_validated/` copies) cost no events.
"""

from __future__ import annotations

import logging
import os
import threading
from collections import defaultdict
from dataclasses import dataclass, field

_FILE_EVENTS = ("FileCreatedEvent", "FileMovedEvent", "FileClosedEvent")
_DIR_EVENTS = ("DirCreatedEvent", "DirMovedEvent")
# watchdog reports a full kernel queue (IN_Q_OVERFLOW: events were dropped) only in its log.
_OVERFLOW_LOGGER = "watchdog.observers.inotify_c"


@dataclass
class Changes:
    files: dict[str, set[str]] = field(default_factory=dict)  # folder -> names changed in it
    folders: set[str] = field(default_factory=set)  # folders that gained a subfolder
    overflowed: bool = False  # the kernel dropped events: list everything again


class _Collector:
    """watchdog event handler: collects names under a lock until the next drain()."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.files: dict[str, set[str]] = defaultdict(set)
        self.folders: set[str] = set()
        self.overflowed = False

    def dispatch(self, event) -> None:
        # A move reports its destination; a created or closed file its own path.
        path = os.fsdecode(event.dest_path or event.src_path)
        folder, name = os.path.split(path)
        with self.lock:
            if event.is_directory:
                self.folders.add(folder)
            else:
                self.files[folder].add(name)


class _OverflowFlag(logging.Handler):
    def __init__(self, collector: _Collector) -> None:
        super().__init__(logging.WARNING)
        self.collector = collector

    def emit(self, record: logging.LogRecord) -> None:
        if "overflow" in record.getMessage():
            with self.collector.lock:
                self.collector.overflowed = True


class FolderEvents:
    """Kernel file events for the folders passed to watch(); see the module docstring."""

    def __init__(self, enabled: bool = True) -> None:
        self.available = False
        self.why_not = "disabled" if not enabled else ""
        self._collector = _Collector()
        self._watched: dict[str, bool] = {}  # folder -> watched (False: its watch failed)
        self._observer = None
        self._overflow = None
        if not enabled:
            return
        try:
            from watchdog import events as wd_events
            from watchdog.observers.inotify import InotifyObserver

            observer = InotifyObserver()
            observer.start()
        except (ImportError, OSError) as exc:  # not Linux, no inotify, out of inotify instances
            self.why_not = f"{type(exc).__name__}: {exc}"
            return
        self._filter = [getattr(wd_events, n) for n in (*_FILE_EVENTS, *_DIR_EVENTS)]
        self._observer = observer
        self._overflow = _OverflowFlag(self._collector)
        logging.getLogger(_OVERFLOW_LOGGER).addHandler(self._overflow)
        self.available = True

    def watch(self, folder: str | os.PathLike) -> bool:
        """Report changes in `folder` from now on; True once the kernel watch is in place (it is
        when this returns, so a listing made afterwards misses nothing). False if it cannot be:
        events are off, or the watch failed (e.g. the inotify watch limit): poll that folder."""
        folder = os.path.abspath(folder)
        known = self._watched.get(folder)
        if known is not None:
            return known
        ok = False
        if self._observer is not None:
            try:
                # schedule() adds the inotify watch before it returns (the emitter's
                # on_thread_start runs in the caller's thread).
                self._observer.schedule(self._collector, folder, event_filter=self._filter)
                ok = True
            except OSError as exc:
                self.why_not = f"{folder}: {type(exc).__name__}: {exc}"
        self._watched[folder] = ok
        return ok

    def watching(self, folder: str | os.PathLike) -> bool:
        return bool(self._watched.get(os.path.abspath(folder)))

    def forget(self, folder: str | os.PathLike) -> None:
        """Stop trusting events for `folder` (it is polled from now on); e.g. when its file system
        turns out to send none."""
        self._watched[os.path.abspath(folder)] = False

    def drain(self) -> Changes:
        """What changed since the last drain (names only; each at most once)."""
        c = self._collector
        with c.lock:
            changes = Changes(dict(c.files), c.folders, c.overflowed)
            c.files, c.folders, c.overflowed = defaultdict(set), set(), False
        return changes

    def close(self) -> None:
        if self._overflow is not None:
            logging.getLogger(_OVERFLOW_LOGGER).removeHandler(self._overflow)
            self._overflow = None
        if self._observer is not None:
            self._observer.stop()
            self._observer.join(5)
            self._observer = None

    def __enter__(self) -> FolderEvents:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
