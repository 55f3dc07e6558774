"""The generator's state file, <output>/.generation.json (schema in ARCHITECTURE.md).

write_state(cfg, summary) after a run; sftkit.output.merge reads it for the report.
"""

from __future__ import annotations

import json
import time

from sftkit.common.jsonl import atomic_write_text
from sftkit.generation.config import Config
from sftkit.generation.runner import Totals
from sftkit.output import layout

# --------------------------------------------------------------------------- reporting


def write_state(cfg: Config, summary: dict) -> None:
    """<output>/.generation.json, read by the report (schema in ARCHITECTURE.md)."""
    t: Totals = summary["totals"]
    state = {
        "model": summary["model"],
        "n": cfg.n,
        "k_correct": cfg.k_correct,
        "retry_zero": cfg.retry_zero,
        "rounds_done": summary["rounds_done"],
        "by_source_type": summary["stats"],
        "same_prompt": cfg.same_prompt,
        # Files read, field mapping, gold sources, bad rows skipped, identical problems merged.
        "inputs": summary.get("inputs"),
        "updated_at": time.time(),
        "timing": {
            "first_request": t.first_request,
            "last_response": t.last_response,
            "cpu_seconds": t.cpu_seconds,
            "requests": t.requests,
            "retries": t.retries,
            "written": t.written,
            "failed": t.failed,
        },
    }
    atomic_write_text(layout.generation_file(cfg.output_dir), json.dumps(state, indent=2) + "\n")
