"""The watcher's main loop: poll, grade in the pool, record, until the stop file; final table.

run(cfg) -> 0 done, 1 some files could not be read or graded, 2 bad --grader, 3 disk full (one
line names the file and the free space; a verdict not written is graded again on restart),
128+signal.
"""

from __future__ import annotations

import signal
import sys
import time

from sftkit.common.diskfull import EXIT_DISK_FULL, disk_full_message
from sftkit.watching.config import Config
from sftkit.watching.grading_pool import load_grader, start_pool
from sftkit.watching.watcher import SWEEP_S, Watcher


def run(cfg: Config) -> int:
    try:
        load_grader(cfg.grader)  # fail fast on a bad --grader
    except (ImportError, AttributeError) as exc:
        print(f"[watcher] error: cannot load --grader {cfg.grader}: {exc}", file=sys.stderr)
        return 2
    watcher = Watcher(cfg)

    def on_signal(signum, _frame):
        watcher.abort_signal = signum

    # SIGHUP too: closing or killing a tmux pane hangs its process up.
    for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(signum, on_signal)
    mode = "once" if cfg.once else f"every {cfg.interval:g}s until {cfg.stop_file} exists"
    if not cfg.once and cfg.stop_file.exists():
        mode = f"the stop file {cfg.stop_file} already exists: one full scan, then exit"
    dirs = ", ".join(str(d) for d in cfg.watch_dirs)
    print(f"[watcher] watching {dirs} ({mode}; {cfg.workers} workers, timeout {cfg.timeout:g}s)")
    if not cfg.once:
        events = watcher.events
        how = "kernel file events" if events.available else f"no file events ({events.why_not})"
        print(f"[watcher] {how}; every folder is listed again every {SWEEP_S:g}s", flush=True)
    final = False
    first = True
    last_sweep = time.monotonic()
    # Live: warm up once the first listing is done (at a million stored samples the workers'
    # imports would slow it), still before the generator's samples land. Once: only for work.
    pool = None
    disk_full = None
    try:
        while not watcher.abort_signal:
            poll_started = time.monotonic()  # polls start every interval, however long one takes
            # Stop file first, then scan: the generator wrote everything before touching it.
            was_final = final
            final = final or cfg.once or cfg.stop_file.exists()
            # Full listing at start and once the stop file is seen; between, unchanged folders
            # are skipped (pending files are re-read whatever their folder's mtime says).
            sweep = poll_started - last_sweep >= SWEEP_S
            last_sweep = poll_started if sweep else last_sweep
            # A live start trusts the inodes a checkpoint noted and checks stamps after.
            trust = first and not final
            full = first or final != was_final
            for batch in watcher.scan(full=full, final=final, sweep=sweep, trust=trust):
                pool = pool or start_pool(cfg)
                watcher.submit(pool, batch)
            first = False
            pool = pool or (None if cfg.once else start_pool(cfg))
            watcher.checkpoint()
            status = watcher.write_status(stopped=False)
            watcher.progress(status)
            if cfg.rescan and not watcher.reconciled and not watcher.busy():
                watcher.reconcile()
                watcher.reconciled = True
            if final and not watcher.busy():
                break
            deadline = poll_started + (min(cfg.interval, 0.5) if final else cfg.interval)
            while not watcher.abort_signal:
                # At least once per poll, even when the scan alone took the whole interval.
                watcher.collect(pool, min(0.2, deadline - time.monotonic()))
                if time.monotonic() >= deadline or (final and not watcher.busy()):
                    break
                if not final and cfg.stop_file.exists():
                    break  # finish now rather than after a long interval
    except OSError as exc:
        # A verdict line that did not fit was taken back (sftkit.common.jsonl): its file is
        # graded again after a restart. Nothing else is lost.
        disk_full = disk_full_message(exc, cfg.output_dir)
        if disk_full is None:
            raise
    finally:
        watcher.events.close()
        if pool is not None:
            if watcher.abort_signal or disk_full:
                pool.stop()
            else:
                pool.close()
            pool.join()
    if disk_full:
        print(f"[watcher] error: {disk_full}", file=sys.stderr, flush=True)
        return EXIT_DISK_FULL
    watcher.checkpoint(final=True)
    status = watcher.write_status(stopped=True)
    watcher.progress(status)
    if sys.stdout.isatty():
        print()  # end the line the progress redraws in place
    print(watcher.table())
    if watcher.abort_signal:
        name = signal.Signals(watcher.abort_signal).name
        print(f"[watcher] interrupted by {name}; {status['pending']} files left for the next run")
        return 128 + watcher.abort_signal
    unreadable = watcher.unreadable()
    if unreadable:
        # The folder's state, not this run's: a file left unreadable by an earlier run (or the
        # live watcher) fails --once too, until it is replaced by a readable one or removed.
        print(f"[watcher] {len(unreadable)} sample files could not be read or graded:")
        for line in unreadable[:10]:
            print(f"  {line}")
        if len(unreadable) > 10:
            print(f"  ... and {len(unreadable) - 10} more (their verdict lines carry `error`)")
        return 1
    return 0
