"""How a generator run ends early: Ctrl-C, SIGTERM and SIGHUP alike, and a full disk.

A closed terminal hangs its programs up (SIGHUP) and `tmux kill-session` or a job scheduler
sends SIGTERM: each ends the run the way Ctrl-C does. The first signal cancels the run's task,
so every worker stops at its next await: a sample is written whole (temp file + rename) or not
at all, the run's figures go to .generation.json, and the summary says what ended it. A second
signal stops at once (KeyboardInterrupt). Exit code 128 + the signal's number: 130 Ctrl-C,
143 SIGTERM, 129 SIGHUP.

Usage:
    stop = Stop.install()          # in main(), before asyncio.run
    summary = asyncio.run(generate(cfg, versions, sentences, stop))
    summary["interrupted"]         # "SIGTERM", or None for a run that finished
"""

from __future__ import annotations

import asyncio
import signal
from dataclasses import dataclass, field

SIGNALS = (signal.SIGTERM, signal.SIGHUP)  # SIGINT: asyncio.run's own handler does the same


@dataclass
class Stop:
    """The signal that ended the run, and the task a signal cancels while the run is on."""

    signum: int | None = None
    task: asyncio.Task | None = None
    loop: asyncio.AbstractEventLoop | None = None
    previous: dict = field(default_factory=dict)

    @classmethod
    def install(cls) -> Stop:
        stop = cls()
        for signum in SIGNALS:
            stop.previous[signum] = signal.signal(signum, stop._on_signal)
        return stop

    def restore(self) -> None:
        """The handlers as they were (main() runs in-process in the tests)."""
        for signum, handler in self.previous.items():
            signal.signal(signum, handler)

    def attach(self) -> None:
        """Called inside the run's task: a signal from now on cancels it."""
        self.task, self.loop = asyncio.current_task(), asyncio.get_running_loop()

    def detach(self) -> None:
        self.task = self.loop = None

    def _on_signal(self, signum: int, _frame) -> None:
        first = self.signum is None
        self.signum = self.signum or signum
        if first and self.task is not None and not self.task.done():
            # As asyncio.run does for Ctrl-C: cancel, and wake the loop if it is waiting.
            self.task.cancel()
            self.loop.call_soon_threadsafe(lambda: None)
            return
        raise KeyboardInterrupt  # outside the run, or a second signal: stop now

    def name(self) -> str:
        """ "SIGTERM"; "SIGINT" when no other signal came (asyncio.run's Ctrl-C)."""
        return signal.Signals(self.signum or signal.SIGINT).name

    def exit_code(self) -> int:
        return 128 + (self.signum or signal.SIGINT)
