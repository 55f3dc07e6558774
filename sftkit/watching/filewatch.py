"""Which files changed in a set of folders, from the kernel (inotify, through watchdog's inotify
binding), so a watcher learns of new samples without listing folders that hold a million of them.

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

watchdog's `InotifyFD` (its inotify binding: the file descriptor, a reader thread, the event
parser) is used directly, without its observer: the observer's emitter and dispatcher threads
and event objects cost about 0.5 ms of CPU per sample file, as much as grading it.
"""

from __future__ import annotations

import os
import threading
from collections import defaultdict
from dataclasses import dataclass, field

# IN_CREATE | IN_MOVED_TO | IN_CLOSE_WRITE (inotify(7)); IN_ISDIR marks a folder.
IN_CLOSE_WRITE, IN_MOVED_TO, IN_CREATE, IN_ISDIR = 0x08, 0x80, 0x100, 0x40000000
MASK = IN_CLOSE_WRITE | IN_MOVED_TO | IN_CREATE


@dataclass
class Changes:
    files: dict[str, set[str]] = field(default_factory=dict)  # folder -> names changed in it
    folders: set[str] = field(default_factory=set)  # folders that gained a subfolder
    overflowed: bool = False  # the kernel dropped events: list everything again


class _Collector:
    """watchdog WatchCallback: collects names per folder under a lock until the next drain()."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.folder_of: dict[int, str] = {}  # watch descriptor -> folder
        self.files: dict[str, set[str]] = defaultdict(set)
        self.folders: set[str] = set()
        self.overflowed = False

    def on_event(self, event) -> None:
        folder = self.folder_of.get(event.wd)
        if folder is None or not event.name:
            return
        with self.lock:
            if event.mask & IN_ISDIR:
                self.folders.add(folder)
            else:
                self.files[folder].add(os.fsdecode(event.name))

    def on_watch_deleted(self, wd) -> None:
        self.folder_of.pop(wd, None)  # the folder is gone; a sweep notices

    def on_queue_overflow(self) -> None:
        with self.lock:
            self.overflowed = True


class FolderEvents:
    """Kernel file events for the folders passed to watch(); see the module docstring."""

    def __init__(self, enabled: bool = True) -> None:
        self.available = False
        self.why_not = "disabled" if not enabled else ""
        self._collector = _Collector()
        self._watched: dict[str, bool] = {}  # folder -> watched (False: its watch failed)
        self._fd = None
        if not enabled:
            return
        try:
            from watchdog.observers.inotify_c import InotifyFD

            fd = InotifyFD()  # our own instance (not the shared one), with its reader thread
            fd.start()
        except (ImportError, OSError) as exc:  # not Linux, no inotify, out of inotify instances
            self.why_not = f"{type(exc).__name__}: {exc}"
            return
        self._fd = fd
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
        if self._fd is not None:
            try:
                wd = self._fd.add_callback(os.fsencode(folder), MASK, self._collector, id(self))
                self._collector.folder_of[wd] = folder
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
        if self._fd is not None:
            self._fd.stop()  # closes the descriptor and its watches
            self._fd.join(5)
            self._fd = None

    def __enter__(self) -> FolderEvents:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
