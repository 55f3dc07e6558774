r"""Watch the generator's output and grade every sample file as it lands; never lose a verdict.

The command line over sftkit/watching/: config.py (flags), loop.py (the poll loop), watcher.py
(state, scanning, recording), grading_pool.py (worker processes). Pipeline order: parse_args() ->
poll loop (scan -> read -> grade in worker processes -> record)
-> on the stop file one last full scan -> final table.

Usage:
    python validate_watcher.py --output_dir sft_output --interval 1.0
    python validate_watcher.py --output_dir sft_output --once            # grade what is there, exit
    python validate_watcher.py --output_dir sft_output --once --rescan   # regrade everything
    python validate_watcher.py --output_dir /mnt/nfs/out --poll          # no file events there
    touch sft_output/.watcher_stop                                       # finish and exit

New files are named by kernel file events (sftkit.watching.filewatch), so a poll costs the new files, not
the folder: a folder is listed in full at start-up, once the stop file is seen, with --once,
and every SWEEP_S seconds; where no events come (`--poll`, no inotify, or a folder whose mtime
moves without an event) a folder is listed whenever its mtime changes. Verdicts are kept in a
compact index (sftkit.watching.index), about 40 bytes a sample.

Layout: `<watch_dir>/<source>/<type>/<p>_<s>.jsonl` is graded into `<source>/<type>_verdicts.jsonl`
(append-only, last line per file wins) and, when correct, copied to
`<source>/<type>_validated/<p>_<s>.jsonl` with `meta.verdict` and `meta.extracted_answer` added.
Live status goes to `<output>/.status.json` (schema in ARCHITECTURE.md).

Grading runs in a pebble process pool: items travel in batches for speed; a batch that times out
or kills its worker is split and each item retried alone under the hard `--timeout`, so one
pathological answer costs one `timeout` verdict and never stalls the loop.
A file that is not complete yet (half-written last line, no trailing newline) is read again on
the next poll; after `--max_tries` unchanged reads it gets an `unparseable` verdict with `error`.
A verdict line carries the `mtime_ns` and `size` of the content it graded: a sample file changed
since (a corrupt file replaced by a good one) is graded again, at the next poll when it was
replaced (new inode), at the latest on a full listing (start, stop file, --once) when rewritten
in place.
`--grader module:function` swaps the checker (default validate_sft_data:validate_item).

Exit code: 0 done, 1 some sample files could not be read or graded (the folder's state: a file
found unreadable by an earlier run counts until it is replaced or removed), 2 bad arguments,
128+signal when interrupted (verdicts written so far are kept; a restart resumes).
"""

from __future__ import annotations

from sftkit.common import startup

if __name__ == "__main__":  # a Ctrl-C while the imports below load: one line, exit 130
    startup.quiet_ctrl_c()

import sys

from sftkit.output import commands
from sftkit.watching import config as watch_config
from sftkit.watching.config import Config as Config
from sftkit.watching.loop import run as run
from sftkit.watching.watcher import Watcher as Watcher


def parse_args(argv: list[str] | None = None) -> Config:
    """The watcher's flags, declared once on `Config` in sftkit/watching/config.py."""
    return watch_config.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    startup.loaded()
    cfg = parse_args(argv)
    if cfg.output_dir.is_dir():  # for report.html and the dataset card's rebuild commands
        line = list(sys.argv) if argv is None else ["validate_watcher.py", *argv]
        commands.record(cfg.output_dir, "watch", line)
    return run(cfg)


if __name__ == "__main__":
    sys.exit(main())
