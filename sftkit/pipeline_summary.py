"""The launcher's summary: each step's exit code, a failed step's last error lines, what the
merged data holds, and the run's exit code; printed and kept in <output>/summary.txt.

Usage:
    code = summary(plan, ("generator", "watcher", "merge"), show_report=True)
    exit_code({"generator": 0, "watcher": 137, "merge": 2})  # -> 137
"""

from __future__ import annotations

import contextlib
import json
import re
import signal
from pathlib import Path

from sftkit.common.diskfull import EXIT_DISK_FULL
from sftkit.common.jsonl import atomic_write_text
from sftkit.output import layout, report
from sftkit.pipeline_steps import say

# "error" as a word: a table's "errors" column header is not an error line.
ERROR_LINE = re.compile(r"\berror\b|Traceback|interrupted|failed|refused|timeout", re.I)
ANSI = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]")
BAR = re.compile(r"\d+%\|")  # a tqdm progress bar


def screen_lines(raw: bytes) -> list[str]:
    """The lines a log would leave on a screen: progress-bar redraws and colours removed.

    screen_lines(b"gen  10%|#\rgen 100%|##\r\nerror: x\n") -> ["error: x"]
    """
    lines = []
    for line in raw.decode("utf-8", "replace").replace("\r\n", "\n").split("\n"):
        line = ANSI.sub("", line.rsplit("\r", 1)[-1]).rstrip()
        if line and not BAR.search(line):
            lines.append(line)
    return lines


def error_lines(log_path: Path, most: int = 8) -> list[str]:
    """What a step's log says went wrong: the last error line with its indented continuation
    lines (a message can span several), after earlier error lines; else the log's last lines."""
    try:
        lines = screen_lines(log_path.read_bytes())
    except OSError:
        return []
    hits = [i for i, ln in enumerate(lines) if ERROR_LINE.search(ln) and not ln.startswith("[")]
    if not hits:
        return lines[-most:]
    end = hits[-1] + 1
    while end < len(lines) and lines[end][:1].isspace():  # an indented continuation
        end += 1
    block = lines[hits[-1] : min(end, hits[-1] + most)]
    earlier = [lines[i] for i in hits[:-1]]
    return [*earlier[-(most - len(block)) :], *block] if len(block) < most else block


def read_rc(out: Path, step: str) -> int | None:
    try:
        return int(layout.step_rc(out, step).read_text().strip())
    except (OSError, ValueError):
        return None


STOPPED_BY = {128 + s: s.name for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)}


def exit_code(codes: dict[str, int | None], interrupted: bool = False) -> int:
    """130 if interrupted (Ctrl-C, SIGTERM or SIGHUP in a step); else the first failing step's
    code; a step with no code failed (1)."""
    values = [1 if c is None else c for c in codes.values()]
    if interrupted or any(c in STOPPED_BY for c in values):
        return 130
    return next((c for c in values if c), 0)


def generator_note(code: int | None) -> str | None:
    """What the merged data holds when the generator did not end with 0: its exit code decides
    whether this run's samples are in it (see generate_sft_data.py's exit codes)."""
    if code in (None, 0):
        return None
    if code == 1:
        return (
            "some samples failed after retries (see <source>/failures.jsonl); the others this "
            "run wrote are in it; rerun the same command to retry the failed ones"
        )
    if code == EXIT_DISK_FULL:
        return (
            "the disk filled up: it holds the samples stored until then; free space and rerun "
            "the same command"
        )
    if code in STOPPED_BY:
        return (
            f"the generator was stopped ({STOPPED_BY[code]}): it holds the samples stored until "
            "then; rerun the same command to resume"
        )
    return "the generator stopped before any request: it holds only samples stored before"


def summary(plan_, steps, show_report: bool, interrupted: bool = False) -> int:
    """Print the report (if asked and this run merged) and the summary, and keep both in
    <output>/summary.txt (a user who detached reads it there); return the exit code. `plan_` is
    sftkit.pipeline.Plan (its `out` and `fmt`)."""
    out = plan_.out
    codes = {step: read_rc(out, step) for step in steps}
    report_path = layout.report_file(out)
    text = []
    if show_report and codes.get("merge") == 0 and report_path.exists():
        with contextlib.suppress(OSError, ValueError):
            report_json = json.loads(report_path.read_text(encoding="utf-8"))
            text += [report.format_report(report_json), ""]
    lines = [f"summary (output: {out})"]
    for step, code in codes.items():
        lines.append(
            f"  {step}: "
            + ("did not finish (no exit code)" if code is None else f"exit code {code}")
            + (f" (stopped by {STOPPED_BY[code]})" if code in STOPPED_BY else "")
        )
        if code != 0 and code not in STOPPED_BY:  # a stopped step's log says nothing wrong
            lines += [f"    | {line}" for line in error_lines(layout.step_log(out, step))]
            lines.append(f"    (whole output: {layout.step_log(out, step)})")
    if "watcher" in codes:
        lines.append(
            f"  validated samples: {layout.validated_dir(layout.type_dir(out, '<source>', '<type>'))}/"
        )
    merged = layout.merged_file(out, layout.ALL_NAME, plan_.fmt)
    if codes.get("merge") == 0 and merged.exists():
        with open(merged, "rb") as f:
            records = sum(1 for _ in f)
        lines.append(f"  merged training data: {merged} ({records} records; report: {report_path})")
        page = layout.report_html_file(out)
        if page.exists():
            lines.append(f"  report page (figures, sample browser): {page}")
        card = layout.dataset_card_file(out)
        if card.exists():
            lines.append(f"  dataset card (Hugging Face): {card}")
        note = generator_note(codes.get("generator"))
        if note:
            lines.append(f"    ({note})")
    if EXIT_DISK_FULL in codes.values():
        lines.append(f"disk full: free space where {out} is and rerun the same command")
    code = exit_code(codes, interrupted)
    if code == 130:
        by = sorted({STOPPED_BY[c] for c in codes.values() if c in STOPPED_BY} - {"SIGINT"})
        lines.append(
            f"interrupted{' by ' + ', '.join(by) if by else ''}: stored samples are kept; "
            "rerun the same command to resume"
        )
    summary_path = layout.summary_file(out)
    lines.append(f"this summary is kept in {summary_path}")
    text += [f"[pipeline] {line}" for line in lines]
    print("\n".join(text[: -len(lines)]))
    for line in lines:
        say(line)
    with contextlib.suppress(OSError):
        atomic_write_text(summary_path, "\n".join(text) + "\n")
    return code
