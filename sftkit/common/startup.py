"""A Ctrl-C while a script still loads its libraries (matplotlib, sympy, datasets: a second or
two) ends it with one line and exit code 130, not a traceback; main() then hands Ctrl-C back to
Python, where asyncio and the watcher's own handlers expect it.

Usage, the first lines of a top-level script (before its other imports):
    from sftkit.common import startup

    if __name__ == "__main__":
        startup.quiet_ctrl_c()
    ...
    def main():
        startup.loaded()
"""

from __future__ import annotations

import signal
import sys


def _stop(signum: int, _frame) -> None:
    name = signal.Signals(signum).name
    print(f"interrupted by {name} while starting: nothing was written", file=sys.stderr)
    sys.exit(128 + signum)  # SystemExit: Python prints no traceback for it


def quiet_ctrl_c() -> None:
    signal.signal(signal.SIGINT, _stop)


def loaded() -> None:
    """Ctrl-C raises KeyboardInterrupt again (asyncio.run installs its handler only then)."""
    if signal.getsignal(signal.SIGINT) is _stop:
        signal.signal(signal.SIGINT, signal.default_int_handler)
