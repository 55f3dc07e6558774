"""The watcher learns of new samples from kernel file events, and loses nothing without them:
a file landing before a folder's watch starts, a file system that sends no events, no inotify at
all (--poll), a kill -9 while samples keep landing."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import write_sample

import validate_watcher as vw

pytestmark = pytest.mark.e2e  # runs the CLIs, servers or worker processes for real

REPO = Path(vw.__file__).resolve().parent
TYPES = ("subjectives", "multiples")


def watcher(out: Path, *args: str) -> vw.Watcher:
    return vw.Watcher(vw.parse_args(["--output_dir", str(out), "--workers", "1", *args]))


def pending(w: vw.Watcher, batches) -> set[str]:
    """Names found so far: queued in batches or still pending."""
    names = {name for b in batches for name, _, _ in b.items}
    return names | {name for f in w.folders.values() for name in f.pending}


def scan_until(w: vw.Watcher, want: set[str], polls: int = 50) -> set[str]:
    found: set[str] = set()
    for _ in range(polls):
        found |= pending(w, w.scan(full=False, final=False))
        if want <= found:
            break
        time.sleep(0.05)
    return found


def count_listings(monkeypatch) -> list[str]:
    listed: list[str] = []
    real = os.scandir

    def scandir(path="."):
        listed.append(str(path))
        return real(path)

    monkeypatch.setattr(os, "scandir", scandir)
    return listed


def test_new_samples_come_from_events_not_from_listing_the_folder(tmp_path, monkeypatch):
    out = tmp_path / "out"
    for s in range(3):
        write_sample(out, "src", "multiples", 0, s, correct=True)
    w = watcher(out)
    if not w.events.available:
        pytest.skip(f"no inotify here: {w.events.why_not}")
    try:
        assert pending(w, w.scan(full=True, final=False)) == set()  # all graded by an earlier run
        assert w.totals()["graded"] == 3
        listed = count_listings(monkeypatch)
        write_sample(out, "src", "multiples", 1, 0, correct=None)
        found = scan_until(w, {"1_0.jsonl"})
        assert found == {"1_0.jsonl"}
        assert str(out / "src" / "multiples") not in listed  # named by an event, not a listing
    finally:
        w.events.close()


def test_a_file_landing_before_a_new_folders_watch_starts_is_found(tmp_path, monkeypatch):
    out = tmp_path / "out"
    out.mkdir()
    w = watcher(out)
    if not w.events.available:
        pytest.skip(f"no inotify here: {w.events.why_not}")
    real = w.events.watch

    def watch_late(folder):
        # The generator writes its first sample into a new type folder after the watcher's
        # sweep saw the folder and before the folder's watch is in place.
        if Path(folder).name == "multiples":
            write_sample(out, "src", "multiples", 0, 0, correct=None)
        ok = real(folder)
        if Path(folder).name == "multiples":
            write_sample(out, "src", "multiples", 0, 1, correct=None)  # after: an event
        return ok

    monkeypatch.setattr(w.events, "watch", watch_late)
    try:
        w.scan(full=True, final=False)  # start-up: nothing there yet
        (out / "src" / "multiples").mkdir(parents=True)  # a new folder: its parent's event
        found = scan_until(w, {"0_0.jsonl", "0_1.jsonl"})
        assert {"0_0.jsonl", "0_1.jsonl"} <= found
    finally:
        w.events.close()


def test_a_folder_that_sends_no_events_is_listed_when_it_changes(tmp_path, monkeypatch, capsys):
    # A network mount: the watch is accepted, no event ever comes. The folder's mtime moves, so
    # after one silent poll it is listed, and from then on whenever it changes.
    out = tmp_path / "out"
    write_sample(out, "src", "multiples", 0, 0, correct=True)
    w = watcher(out)
    if not w.events.available:
        pytest.skip(f"no inotify here: {w.events.why_not}")
    silent = str(out / "src" / "multiples")
    collector = w.events._collector
    real = collector.on_event
    monkeypatch.setattr(
        collector,
        "on_event",
        lambda event: None if collector.folder_of.get(event.wd) == silent else real(event),
    )
    try:
        w.scan(full=True, final=False)
        time.sleep(0.01)  # a new mtime tick for the folder
        write_sample(out, "src", "multiples", 1, 0, correct=None)
        assert scan_until(w, {"1_0.jsonl"}) == {"1_0.jsonl"}
        assert "no file events from" in capsys.readouterr().out
        assert not w.events.watching(silent)
        write_sample(out, "src", "multiples", 2, 0, correct=None)
        assert "2_0.jsonl" in scan_until(w, {"2_0.jsonl"})
    finally:
        w.events.close()


def test_without_inotify_the_watcher_lists_changed_folders(tmp_path, monkeypatch):
    import watchdog.observers.inotify_c as inotify_c

    def no_inotify(*args, **kwargs):
        raise OSError(24, "too many open inotify instances")

    monkeypatch.setattr(inotify_c, "InotifyFD", no_inotify)
    out = tmp_path / "out"
    w = watcher(out)
    assert not w.events.available and "inotify instances" in w.events.why_not
    w.scan(full=True, final=False)
    write_sample(out, "src", "subjectives", 0, 0, correct=None)
    assert scan_until(w, {"0_0.jsonl"}) == {"0_0.jsonl"}


# --- end to end, as a process ---


def env() -> dict:
    e = dict(os.environ, PYTHONUNBUFFERED="1")
    e["PYTHONPATH"] = os.pathsep.join([str(REPO), e.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    return e


def start(out: Path, *args: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, str(REPO / "validate_watcher.py"), "--output_dir", str(out),
         "--interval", "0.2", "--workers", "1", *args],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env(),
    )  # fmt: skip


def verdicts(out: Path) -> dict[tuple[str, str], list[dict]]:
    found: dict[tuple[str, str], list[dict]] = {}
    for t in TYPES:
        log = out / "src" / f"{t}_verdicts.jsonl"
        if log.exists():
            for line in log.read_text().splitlines():
                v = json.loads(line)
                found.setdefault((t, v["file"]), []).append(v)
    return found


def wait_until(cond, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < deadline, "condition not reached in time"
        time.sleep(0.05)


def land(out: Path, n: int, start_at: int = 0) -> set[tuple[str, str]]:
    """n samples of problems from start_at on, alternating types; every third one wrong."""
    names = set()
    for i in range(start_at, start_at + n):
        t = TYPES[i % 2]
        write_sample(out, "src", t, i, 0, correct=None, content=f"\\boxed{{{3 if i % 3 else 4}}}")
        names.add((t, f"{i}_0.jsonl"))
    return names


@pytest.mark.parametrize("mode", ["events", "poll"])
def test_kill_9_while_samples_land_then_restart_loses_nothing(tmp_path, mode):
    out = tmp_path / "out"
    (out / "src").mkdir(parents=True)
    args = ("--poll",) if mode == "poll" else ()
    proc = start(out, *args)
    expected = land(out, 20)
    wait_until(lambda: len(verdicts(out)) >= 10)
    more = land(out, 20, start_at=20)  # some land while it is killed
    proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=10)
    expected |= more | land(out, 10, start_at=40)  # and some while it is down
    proc = start(out, *args)
    expected |= land(out, 10, start_at=50)  # and some after the restart
    wait_until(lambda: set(verdicts(out)) >= expected)
    (out / ".watcher_stop").touch()
    stdout, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 0, stderr
    assert ("no file events" in stdout) == (mode == "poll")
    got = verdicts(out)
    assert set(got) == expected
    # Graded once each, unless the kill landed between a batch's copies and its log line.
    assert sum(len(v) > 1 for v in got.values()) <= 2
    status = json.loads((out / ".status.json").read_text())
    correct = sum(i % 3 != 0 for i in range(60))
    assert (status["graded"], status["correct"], status["pending"]) == (60, correct, 0)
    for t in TYPES:
        copies = {p.name for p in (out / "src" / f"{t}_validated").glob("*.jsonl")}
        assert copies == {n for tt, n in expected if tt == t and int(n.split("_")[0]) % 3}
