"""Grading in worker processes: the --grader function loaded once per worker, batches graded in
order, a grader exception turned into an `unparseable` verdict.

start_pool(cfg) -> a pebble ProcessPool whose workers run grade_batch([record, ...]) ->
[{"is_correct", "extracted_answer", "ground_truth", "reason"}, ...].
"""

from __future__ import annotations

import importlib
import json

from pebble import ProcessPool

from sftkit.watching.config import Config

# --- grading in worker processes -------------------------------------------------------------

_GRADER = None


def load_grader(spec: str):
    """ "validate_sft_data:validate_item" -> the function."""
    module, _, func = spec.partition(":")
    return getattr(importlib.import_module(module), func)


def _init_worker(spec: str) -> None:
    global _GRADER
    _GRADER = load_grader(spec)


def grade_batch(records: list[dict]) -> list[dict]:
    """Grade records in order; a grader exception becomes an `unparseable` verdict with `error`."""
    out = []
    for record in records:
        try:
            v = _GRADER(record)
            out.append(
                {
                    "is_correct": bool(v.get("is_correct")),
                    "extracted_answer": _jsonable(v.get("extracted_answer")),
                    "ground_truth": _jsonable(v.get("ground_truth", record.get("answer"))),
                    "reason": str(v.get("reason") or "unparseable"),
                }
            )
        # The grader promises not to raise; still, one bad item must not sink a batch.
        except Exception as exc:
            out.append(_failed(record, "unparseable", f"grader raised {type(exc).__name__}: {exc}"))
    return out


def _jsonable(value):
    """JSON values pass; others (a SymPy object, say) become str(): Rational(1, 2) -> "1/2"."""
    if value is None or isinstance(value, str | int | float | bool):
        return value
    try:
        json.dumps(value)
        return value
    except (TypeError, ValueError):
        return str(value)


def _failed(record: dict | None, reason: str, error: str | None) -> dict:
    verdict = {
        "is_correct": False,
        "extracted_answer": None,
        "ground_truth": (record or {}).get("answer"),
        "reason": reason,
    }
    if error:
        verdict["error"] = error
    return verdict


WARM_UP = {
    "messages": [
        {"role": "user", "content": "warm-up"},
        {"role": "assistant", "content": r"\boxed{\frac{\pi}{4}}"},
    ],
    "answer": r"\frac{2\pi}{8}",
}


# --- main loop -------------------------------------------------------------------------------


def start_pool(cfg: Config) -> ProcessPool:
    """The grading pool, started when there is first something to grade."""
    try:
        # Lazy imports and parser start-up cost seconds: pay them once here, before the workers
        # fork, so every (re)started worker grades at full speed from its first item.
        module = importlib.import_module(cfg.grader.partition(":")[0])
        warm_up = getattr(module, "warm_up", None)
        if callable(warm_up):
            warm_up()
        else:
            load_grader(cfg.grader)(WARM_UP)
    except Exception:
        pass  # only a speed-up; a grader that fails here reports per item in the workers
    return ProcessPool(max_workers=cfg.workers, initializer=_init_worker, initargs=(cfg.grader,))
