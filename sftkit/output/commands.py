"""The command lines that built an output folder, kept in `<out>/commands.jsonl` so the report
and the dataset card can say exactly how to rebuild the data.

Pipeline order: record() by each script as it starts -> latest() for the page and the card.

Usage:
    record("sft_output", "generate", ["generate_sft_data.py", "--n", "8"])
    latest("sft_output")   # [{"step": "generate", "command": "python3 generate_sft_data.py --n 8",
                           #   "cwd": "/home/me/proj", "at": 1700000000.0, "runs": 1}, ...]

One line per run, appended (a run never rewrites what an earlier run recorded). latest() folds
them: per step in pipeline order, the distinct command lines, each with how often it ran, last
run last. A generator resumed with the same flags is one line with "runs": 2.
"""

from __future__ import annotations

import os
import shlex
import sys
import time

from sftkit.common.jsonl import append_jsonl, read_log
from sftkit.output import layout

STEPS = ("launch", "generate", "watch", "merge")  # pipeline order (launch: run_sft_pipeline.sh)
MAX_PER_STEP = 10  # distinct command lines kept per step by latest()


def record(output_dir: str | os.PathLike, step: str, argv: list[str], python: bool = True) -> None:
    """Append the command line of one run (`argv` as sys.argv has it) to commands.jsonl; the
    interpreter is put first unless `python` is False (the launcher is a shell script).

    record(out, "merge", ["generate_sft_data.py", "--merge_only"]) appends {"step": "merge",
    "command": "python3 generate_sft_data.py --merge_only", "cwd": ..., "at": ...}.
    """
    exe = os.path.basename(sys.executable) or "python3"
    line = {
        "step": step,
        "command": shlex.join([exe, *argv] if python else argv),
        "cwd": os.getcwd(),
        "at": time.time(),
    }
    try:
        append_jsonl(layout.commands_file(output_dir), line)
    except OSError:
        pass  # the record helps a reader; a run never fails for it


def latest(output_dir: str | os.PathLike) -> list[dict]:
    """Distinct command lines per step, steps in pipeline order, each step's last run last."""
    records, _ = read_log(layout.commands_file(output_dir))
    by_step: dict[str, dict[tuple, dict]] = {}
    for _, obj in records:
        step, command = obj.get("step"), obj.get("command")
        if not isinstance(step, str) or not isinstance(command, str):
            continue
        runs = by_step.setdefault(step, {})
        key = (command, obj.get("cwd"))
        seen = runs.pop(key, None)  # re-inserted: dicts keep the last run last
        runs[key] = {**obj, "runs": (seen or {}).get("runs", 0) + 1}
    order = [s for s in STEPS if s in by_step] + sorted(set(by_step) - set(STEPS))
    return [line for step in order for line in list(by_step[step].values())[-MAX_PER_STEP:]]
