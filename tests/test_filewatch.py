"""sftkit.watching.filewatch: names of changed files from kernel events, and what happens without them."""

from __future__ import annotations

import os
import time

import pytest

from sftkit.common.jsonl import atomic_write_text
from sftkit.watching.filewatch import FolderEvents


def drained(events: FolderEvents, until, timeout: float = 5.0):
    """Drain until `until(changes)` holds (events arrive from a thread), merging what came."""
    files: dict[str, set[str]] = {}
    folders: set[str] = set()
    deadline = time.monotonic() + timeout
    while True:
        c = events.drain()
        for folder, names in c.files.items():
            files.setdefault(folder, set()).update(names)
        folders |= c.folders
        if until(files, folders) or time.monotonic() > deadline:
            return files, folders
        time.sleep(0.02)


@pytest.fixture
def events():
    ev = FolderEvents()
    if not ev.available:
        pytest.skip(f"no inotify here: {ev.why_not}")
    yield ev
    ev.close()


def test_renamed_written_and_new_folders_are_reported(tmp_path, events):
    folder = tmp_path / "src" / "multiples"
    folder.mkdir(parents=True)
    assert events.watch(folder) and events.watch(tmp_path / "src")
    atomic_write_text(folder / "0_0.jsonl", "{}\n")  # temp file + rename, as the generator writes
    with open(folder / "1_0.jsonl", "w") as fh:  # written in place
        fh.write("{}\n")
    (tmp_path / "src" / "subjectives").mkdir()
    key = str(folder)
    files, folders = drained(
        events, lambda f, d: {"0_0.jsonl", "1_0.jsonl"} <= f.get(key, set()) and d
    )
    assert {"0_0.jsonl", "1_0.jsonl"} <= files[key]
    assert folders == {str(tmp_path / "src")}  # the parent of the new folder: list it again
    assert events.drain().files == {}  # each change is reported once


def test_a_file_landing_between_a_listing_and_the_watch_is_not_lost(tmp_path, events, monkeypatch):
    # The caller watches first and lists after: a file written just before the kernel watch is
    # in place is in the listing, one written after it is in the events. Nothing falls between.
    folder = tmp_path / "multiples"
    folder.mkdir()
    real = events._fd.add_callback

    def add_late(*args, **kwargs):
        atomic_write_text(folder / "0_0.jsonl", "{}\n")  # lands before the watch exists
        wd = real(*args, **kwargs)
        atomic_write_text(folder / "1_0.jsonl", "{}\n")  # lands before the listing
        return wd

    monkeypatch.setattr(events._fd, "add_callback", add_late)
    assert events.watch(folder)
    listed = set(os.listdir(folder))
    atomic_write_text(folder / "2_0.jsonl", "{}\n")  # after the listing: events only
    files, _ = drained(events, lambda f, d: "2_0.jsonl" in f.get(str(folder), set()))
    seen = listed | files.get(str(folder), set())
    assert {"0_0.jsonl", "1_0.jsonl", "2_0.jsonl"} <= seen
    assert "0_0.jsonl" in listed  # only the listing could have found it


def test_without_kernel_events_every_folder_is_the_callers_to_poll(tmp_path, monkeypatch):
    off = FolderEvents(enabled=False)
    assert not off.available and not off.watch(tmp_path) and not off.watching(tmp_path)
    off.close()

    import watchdog.observers.inotify_c as inotify_c

    def no_inotify(*args, **kwargs):
        raise OSError(24, "inotify_init1: too many open inotify instances")

    monkeypatch.setattr(inotify_c, "InotifyFD", no_inotify)
    broken = FolderEvents()
    assert not broken.available and "inotify instances" in broken.why_not
    assert not broken.watch(tmp_path)
    broken.close()


def test_a_failed_watch_leaves_that_folder_to_polling(tmp_path, events, monkeypatch):
    def limit_reached(*args, **kwargs):
        raise OSError(28, "inotify watch limit reached")

    monkeypatch.setattr(events._fd, "add_callback", limit_reached)
    assert not events.watch(tmp_path) and not events.watching(tmp_path)
    assert "watch limit" in events.why_not


def test_a_kernel_queue_overflow_asks_for_a_full_listing(tmp_path, events):
    # IN_Q_OVERFLOW (wd -1) as the kernel sends it, through watchdog's own event handling.
    from watchdog.observers.inotify_c import InotifyConstants, InotifyEvent

    assert events.watch(tmp_path)
    events._fd.handle_event(InotifyEvent(-1, InotifyConstants.IN_Q_OVERFLOW, 0, b""))
    assert events.drain().overflowed
    assert not events.drain().overflowed
