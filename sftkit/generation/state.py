"""The generator's state file, <output>/.generation.json: one dataclass, written and read here.

The generator writes it at the end of each run (write_state); the report and the merge read it
(read_state) for the plan (`by_source_type[...]["problems"]`: a sample of a problem beyond it is
stray) and the sampling figures.

Usage:
    write_state(cfg, summary)                       # after generate(): atomic
    state, problem = read_state("sft_output")       # (GenerationState | None, why it is unusable)
    planned_problems(state.by_source_type.get("2022_math/multiples"))  # -> 33
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import asdict, dataclass, field, fields

from sftkit.common.jsonl import atomic_write_text
from sftkit.output import layout

SCREENING = ("decontamination", "near_duplicates")  # report.json shows them at its top level

# Per-(source, type) counters the generator keeps in `by_source_type`, beside `problems`.
GENERATION_COUNTERS = (
    "planned",
    "skipped_existing",
    "skipped_k_correct",
    "retry_samples",
    "written",
    "failed",
)


@dataclass(frozen=True)
class GenerationState:
    """The content of .generation.json (ARCHITECTURE.md has the schema).

    GenerationState(model="m", n=4, by_source_type={"s/multiples": {"problems": 33, ...}}, ...)
    """

    model: str | None = None
    n: int | None = None
    k_correct: int | None = None
    retry_zero: int | None = None
    rounds_done: int | None = None
    by_source_type: dict = field(default_factory=dict)  # "<source>/<type>" -> counters
    same_prompt: bool | None = None
    updated_at: float | None = None
    interrupted: str | None = None  # "SIGTERM": the run was stopped early (stopping.py)
    timing: dict = field(default_factory=dict)  # first_request, last_response, cpu_seconds, ...
    # The problem files read (sftkit.generation.plan.summarize): files with their field mapping
    # and gold sources, files skipped, bad rows skipped, identical problems merged, --versions.
    inputs: dict | None = None
    # The screening before any request (sftkit.generation.screen); None: it did not run.
    decontamination: dict | None = None  # per benchmark file: rows, digest, contaminated
    near_duplicates: dict | None = None  # mode, threshold, clusters, dropped

    @classmethod
    def from_run(cls, cfg, summary: dict) -> GenerationState:
        """The state after a run: the generator's Config and generate()'s summary."""
        t = summary["totals"]  # runner.Totals
        return cls(
            model=summary["model"],
            n=cfg.n,
            k_correct=cfg.k_correct,
            retry_zero=cfg.retry_zero,
            rounds_done=summary["rounds_done"],
            by_source_type=summary["stats"],
            same_prompt=cfg.same_prompt,
            inputs=summary.get("inputs"),
            updated_at=time.time(),
            interrupted=summary.get("interrupted"),
            decontamination=summary.get("screening", {}).get("decontamination"),
            near_duplicates=summary.get("screening", {}).get("near_duplicates"),
            timing={
                "first_request": t.first_request,
                "last_response": t.last_response,
                "cpu_seconds": t.cpu_seconds,
                "requests": t.requests,
                "retries": t.retries,
                "written": t.written,
                "truncated": t.truncated,
                "failed": t.failed,
            },
        )

    @classmethod
    def from_json(cls, data: dict) -> GenerationState:
        """Lenient: a missing key is None (an older file), an unknown one is dropped, and a
        by_source_type or timing that is not an object counts as empty."""
        known = {f.name for f in fields(cls)}
        values = {k: v for k, v in data.items() if k in known}
        for name in ("by_source_type", "timing"):
            if not isinstance(values.get(name), dict):
                values.pop(name, None)
        return cls(**values)

    def to_json(self) -> dict:
        return asdict(self)

    def summary(self) -> dict:
        """What report.json's `generation` shows: everything but the per-type counters, plus
        their totals over all source x type."""
        shown = {k: v for k, v in self.to_json().items() if k not in ("by_source_type", *SCREENING)}
        rows = [v for v in self.by_source_type.values() if isinstance(v, dict)]
        shown["totals"] = {k: sum(v.get(k) or 0 for v in rows) for k in GENERATION_COUNTERS}
        return shown


def write_state(cfg, summary: dict) -> None:
    """<output>/.generation.json of a finished run, written atomically."""
    state = GenerationState.from_run(cfg, summary)
    text = json.dumps(state.to_json(), indent=2) + "\n"
    atomic_write_text(layout.generation_file(cfg.output_dir), text)


def read_state(output_dir: str | os.PathLike) -> tuple[GenerationState | None, str | None]:
    """The state of the last run, or (None, None) if there is none, or (None, why) if the file
    is unreadable: (None, "out/.generation.json: expected a JSON object")."""
    path = layout.generation_file(output_dir)
    if not path.is_file():
        return None, None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        return None, f"{path}: {exc}"
    if not isinstance(data, dict):
        return None, f"{path}: expected a JSON object"
    return GenerationState.from_json(data), None


def planned_problems(gen: dict | None) -> int | None:
    """How many problems the generator planned for a source x type (its `by_source_type` entry),
    or None if unknown: {"problems": 33, ...} -> 33."""
    planned = gen.get("problems") if isinstance(gen, dict) else None
    return planned if isinstance(planned, int) and not isinstance(planned, bool) else None
