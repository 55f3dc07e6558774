"""The k-correct grader: correct samples per problem version for --k_correct / --retry_zero.

Verdicts(out, stored).correct(version) -> 2: the watcher's verdict log decides, a sample it has
not graded yet is graded here (sftkit.grading.grade.validate_item).
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

from sftkit.generation.plan import key_of
from sftkit.inputs.problems import Version
from sftkit.output import layout
from sftkit.watching.index import SampleSet

log = logging.getLogger("generate")


# --------------------------------------------------------------------------- verdicts


class Verdicts:
    """Correct-sample counts per (source, type, problem) for --k_correct / --retry_zero.

    The watcher's verdict log (sftkit.output.layout.VerdictLog: last line per file wins) decides; a
    stored sample it has not graded yet is graded here with sftkit.grading.grade.validate_item.
    Log reads are incremental and throttled, so asking before every request stays cheap.
    """

    REFRESH_SECONDS = 0.5

    def __init__(self, output_dir: str, stored: dict[str, SampleSet]):
        self.output_dir = Path(output_dir)
        # The generator's own record of stored samples (it adds each one it writes): a lookup is
        # per problem, SampleSet.samples(p).
        self.stored = stored
        # Imported here, so only --k_correct / --retry_zero runs pay for loading the grader.
        from sftkit.grading.grade import validate_item

        self.validate_item = validate_item
        self.logs: dict[str, layout.VerdictLog] = {}  # key -> its verdict log, read so far
        self.inline: dict[str, dict[str, bool]] = {}  # key -> file -> is_correct (graded here)
        self._checked: dict[str, float] = {}

    def _refresh(self, key: str) -> dict[str, dict]:
        """The latest verdict per file name of `key`'s log (re-read at most every REFRESH_SECONDS)."""
        log_ = self.logs.get(key)
        if log_ is None:
            source, vtype = key.split("/")
            log_ = self.logs[key] = layout.VerdictLog(
                layout.verdict_log(layout.type_dir(self.output_dir, source, vtype))
            )
        now = time.monotonic()
        if now - self._checked.get(key, -1e9) >= self.REFRESH_SECONDS:
            self._checked[key] = now
            log_.refresh()
        return log_.latest

    def _grade(self, key: str, name: str) -> bool | None:
        """Grade one stored sample; None if its file has gone."""
        source, vtype = key.split("/")
        try:
            record = layout.read_sample(layout.type_dir(self.output_dir, source, vtype) / name)
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as exc:
            log.warning("could not grade %s/%s: %s", key, name, exc)
            return False
        try:
            return bool(self.validate_item(record).get("is_correct"))
        except Exception as exc:  # a grader bug must not stop generation
            log.warning("could not grade %s/%s: %s", key, name, exc)
            return False

    def correct(self, version: Version) -> int:
        """Number of correct samples stored for this problem and version."""
        key = key_of(version)
        logged = self._refresh(key)
        inline = self.inline.setdefault(key, {})
        count = 0
        p = version.problem.index
        stored = self.stored.get(key)
        for name in (layout.sample_name(p, s) for s in (stored.samples(p) if stored else ())):
            if name in logged:
                count += bool(logged[name].get("is_correct"))
            elif name in inline:
                count += inline[name]
            else:
                verdict = self._grade(key, name)
                if verdict is not None:
                    inline[name] = verdict
                    count += verdict
        return count
