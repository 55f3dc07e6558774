"""Running one launcher step: its output shown and logged byte for byte, Ctrl-C and SIGTERM
handled so the pipeline can finish up (sftkit/pipeline.py decides which steps run).

Usage:
    with open(".generator.log", "wb") as log:
        rc = run_teed(["python3", "generate_sft_data.py", "--n", "1"], log)
    show_cmd(["gen.py", "--api_key", "sk-1"])  # -> "gen.py --api_key ***"
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import pty
import shlex
import signal
import struct
import subprocess
import sys
import termios


def say(text: str, err: bool = False) -> None:
    print(f"[pipeline] {text}", file=sys.stderr if err else sys.stdout, flush=True)


def show_cmd(argv) -> str:
    """The command line, quoted to be copied, API key masked:
    show_cmd(["gen.py", "--api_key", "sk-1", "a b"]) -> "gen.py --api_key *** 'a b'"."""
    shown, mask = [], False
    for arg in argv:
        if mask or arg.startswith("--api_key="):
            shown.append("***" if mask else "--api_key=***")
            mask = False
            continue
        mask = arg == "--api_key"
        shown.append(shlex.quote(arg))
    return " ".join(shown)


def _copy_winsize(src_fd: int, dst_fd: int) -> None:
    """Give the step's terminal our terminal's size (80x24 where ours reports none), so
    progress bars fit the pane instead of wrapping or vanishing."""
    with contextlib.suppress(OSError):
        rows, cols, *_ = struct.unpack("HHHH", fcntl.ioctl(src_fd, termios.TIOCGWINSZ, b"\0" * 8))
        size = (rows, cols) if rows and cols else (24, 80)
        fcntl.ioctl(dst_fd, termios.TIOCSWINSZ, struct.pack("HHHH", *size, 0, 0))


RUNNING: list[subprocess.Popen] = []  # the step running now (a SIGTERM is passed on to it)


def run_teed(argv: list[str], log_file, env: dict | None = None) -> int:
    """Run argv with its output shown here and copied byte for byte to log_file; its exit code.

    On a terminal the child gets a pseudo-terminal of its own: it still sees a terminal, so its
    progress bars redraw in place every half second (through a pipe, tqdm would wait 30 s between
    refreshes), and the log keeps the same bytes the screen got.
    """
    out_fd = sys.stdout.fileno()
    if os.isatty(out_fd):
        src, child_end = pty.openpty()
        _copy_winsize(out_fd, child_end)
        proc = subprocess.Popen(argv, stdout=child_end, stderr=child_end, env=env)
        os.close(child_end)
        old = signal.signal(signal.SIGWINCH, lambda *_: _copy_winsize(out_fd, src))
    else:
        proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env)
        src, old = proc.stdout.fileno(), None
    RUNNING.append(proc)
    try:
        while True:
            try:
                chunk = os.read(src, 65536)
            except OSError as exc:  # EIO: every writer of the pseudo-terminal has closed it
                if exc.errno != errno.EIO:
                    raise
                break
            if not chunk:
                break
            os.write(out_fd, chunk)
            log_file.write(chunk)
            log_file.flush()
        rc = proc.wait()
        return 128 - rc if rc < 0 else rc  # killed by a signal: the shell's 128+N
    finally:
        RUNNING.remove(proc)
        if old is not None:
            signal.signal(signal.SIGWINCH, old)
            os.close(src)
        elif proc.stdout:
            proc.stdout.close()


class Interrupts:
    """Ctrl-C reaches the step (same process group), which stops itself cleanly; this process
    keeps going so the exit code is written and the stop file touched. A second Ctrl-C skips the
    steps not started yet. SIGTERM (sent to this process alone, by `kill` or a scheduler) is
    passed on to the running step and, like SIGHUP, skips the remaining steps."""

    def __init__(self):
        self.count = 0
        for signum in (signal.SIGINT, signal.SIGHUP, signal.SIGTERM):
            signal.signal(signum, self._on_int)

    def _on_int(self, signum, _frame) -> None:
        # A closed tmux pane hangs up: nobody is left to watch the remaining steps.
        self.count += 1 if signum == signal.SIGINT else 2
        if signum == signal.SIGTERM and RUNNING:
            with contextlib.suppress(OSError):
                RUNNING[-1].send_signal(signal.SIGTERM)
        if self.count == 1:
            say("interrupted: finishing up (Ctrl-C again to skip the remaining steps)")
