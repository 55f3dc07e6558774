r"""What the merge keeps of the correct samples: filters, the pass-rate band, judge-recovered ones.

`*_validated/` stays the grader's decision; this module decides, at merge time, which of those
samples reach the training data, so `--merge_only --filters ... --pass_rate ...` rebuilds the
merged files from what is on disk, with no regrading and no requests. Every sample it drops gets a
named reason (a filter's name, or `pass_rate`) and one line in the audit file beside the merged
data (`merged/filtered.jsonl`); the counts per source x type add up:
correct (+ judge-recovered, with --judge accept) = merged + filtered + duplicates.

Pipeline order: pass_rates() per type -> Selection.drop_reason() per sample -> audit_line() ->
Tally per source x type -> write_summary() (merged/merge_summary.json, read by the report).

Usage:
    sel = Selection(filters=FilterConfig(enabled=("truncated", "hedged")), pass_rate=(0.1, 0.9))
    rates = pass_rates(Path("sft_output/src/subjectives"))     # {0: (3, 4), 1: (0, 4), ...}
    sel.drop_reason(record, rates.get(0))                      # "hedged", "pass_rate" or None
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

from sftkit.common.jsonl import atomic_write_text
from sftkit.grading.choice_value import prompt_options
from sftkit.grading.compare import check_answer
from sftkit.grading.grade import _gold_parts
from sftkit.output import layout
from sftkit.output.filters import DEFAULT_FILTERS, FilterConfig, first_reason, sample_view

PASS_RATE = "pass_rate"  # the drop reason of a sample whose problem version is outside --pass_rate
AUDIT_NAME = "filtered.jsonl"
SUMMARY_NAME = "merge_summary.json"
# Pass-rate buckets of the report: 0 and 1 on their own (never / always solved), tenths between.
BUCKETS = ("0", *(f"{k / 10:.1f}-{(k + 1) / 10:.1f}" for k in range(10)), "1")


def audit_file(out: str | os.PathLike) -> Path:
    """merged/filtered.jsonl: one line per sample the merge dropped, with its reason."""
    return layout.merged_dir(out) / AUDIT_NAME


def summary_file(out: str | os.PathLike) -> Path:
    """merged/merge_summary.json: the last merge's settings and counts (the report reads it)."""
    return layout.merged_dir(out) / SUMMARY_NAME


def gold_parts(gold) -> int:
    """How many answers a gold lists (the grader's count, cached: golds repeat per problem):
    "x=2, y=7" -> 2, 3 -> 1."""
    try:
        return _gold_parts_cached(gold)
    except TypeError:  # an unhashable gold (a list): count it afresh
        return _gold_parts(gold)


@lru_cache(maxsize=65536)
def _gold_parts_cached(gold) -> int:
    return _gold_parts(gold)


def parse_pass_rate(text: str | None) -> tuple[float, float] | None:
    """--pass_rate "0.1,0.9" -> (0.1, 0.9) (both ends kept); None or "" -> None (no band);
    a malformed or reversed band -> ValueError."""
    if text is None or not str(text).strip():
        return None
    parts = str(text).split(",")
    try:
        lo, hi = (float(p) for p in parts) if len(parts) == 2 else (None, None)
    except ValueError:
        lo = hi = None
    if lo is None or hi is None or not 0 <= lo <= hi <= 1:
        raise ValueError(f"expected LO,HI with 0 <= LO <= HI <= 1, e.g. 0.1,0.9; got {text!r}")
    return lo, hi


def bucket(correct: int, graded: int) -> str | None:
    """The report's bucket of a pass rate: (0, 4) -> "0", (1, 4) -> "0.2-0.3", (4, 4) -> "1";
    nothing graded -> None."""
    if not graded:
        return None
    if correct == 0:
        return BUCKETS[0]
    if correct >= graded:
        return BUCKETS[-1]
    return BUCKETS[1 + min(9, int(10 * correct / graded))]


def pass_rates(type_dir: str | os.PathLike) -> dict[int, tuple[int, int]]:
    """problem index -> (correct, graded) samples of one type folder, from its verdict log, as
    the report counts them: a verdict whose file is gone or changed since grading does not count.

    {"0_0.jsonl": correct, "0_1.jsonl": wrong} -> {0: (1, 2)}
    """
    folder = Path(type_dir)
    verdicts, _ = layout.read_verdict_index(layout.verdict_log(folder))
    rates: dict[int, tuple[int, int]] = {}
    for name, entry in verdicts.items():
        key = layout.parse_sample_name(name)
        if key is None:
            continue
        try:
            if verdicts.is_stale(name, os.stat(folder / name)):
                continue
        except OSError:
            continue  # the sample is gone: its verdict counts for nothing
        correct, graded = rates.get(key[0], (0, 0))
        rates[key[0]] = (correct + entry.correct, graded + 1)
    return rates


@dataclass(frozen=True)
class Selection:
    """The merge's choices (the generator's --filters, --max_completion_tokens, --pass_rate,
    --judge); the defaults keep what the filters keep."""

    filters: FilterConfig = field(default_factory=FilterConfig)
    pass_rate: tuple[float, float] | None = None  # keep problem versions with LO <= rate <= HI
    judge: str = "report"  # "accept": merge samples the judge recovered (they pass the filters)

    def drop_reason(self, record: dict, rate: tuple[int, int] | None) -> str | None:
        """Why the merge leaves this correct sample out, or None: kept. One reason per sample:
        the first filter (in FILTERS order) that drops it, else `pass_rate` when its problem
        version's (correct, graded) `rate` is outside the band."""
        if self.filters.enabled:
            meta = record.get("meta") if isinstance(record.get("meta"), dict) else {}
            prompt = meta.get("prompt")
            options = prompt_options(prompt) if isinstance(prompt, str) else ()
            view = sample_view(record, gold_parts=gold_parts(record.get("answer")), options=options)
            reason = first_reason(view, self.filters, same=check_answer)
            if reason is not None:
                return reason
        if self.pass_rate is not None:
            lo, hi = self.pass_rate
            if not rate or not rate[1] or not lo <= rate[0] / rate[1] <= hi:
                return PASS_RATE
        return None

    def settings(self) -> dict:
        """For merge_summary.json and report.json: what this merge kept and dropped by."""
        return {
            "filters": list(self.filters.enabled),
            "max_completion_tokens": self.filters.max_completion_tokens,
            "pass_rate": list(self.pass_rate) if self.pass_rate else None,
            "judge": self.judge,
        }


DEFAULT_SELECTION = Selection(filters=FilterConfig(enabled=DEFAULT_FILTERS))


def difficulty_meta(meta: dict, rate: tuple[int, int] | None) -> dict:
    """meta plus its problem version's pass_rate and n_graded: (3, 4) -> pass_rate 0.75,
    n_graded 4; no verdict at all -> pass_rate None, n_graded 0."""
    correct, graded = rate or (0, 0)
    meta["pass_rate"] = round(correct / graded, 6) if graded else None
    meta["n_graded"] = graded
    return meta


def audit_line(source: str, type_: str, name: str, reason: str, record: dict, rate) -> dict:
    """One line of merged/filtered.jsonl: which sample, why, and enough to look at it."""
    meta = record.get("meta") if isinstance(record.get("meta"), dict) else {}
    correct, graded = rate or (0, 0)
    return {
        **layout.sample_identity(source, type_, name),
        "problem_id": None if meta.get("problem_id") is None else str(meta["problem_id"]),
        "reason": reason,
        "pass_rate": round(correct / graded, 6) if graded else None,
        "finish_reason": meta.get("finish_reason"),
        "completion_tokens": (meta.get("usage") or {}).get("completion_tokens")
        if isinstance(meta.get("usage"), dict)
        else None,
    }


@dataclass
class Tally:
    """Counts of one source x type at merge time. They add up: correct (+ judge_recovered with
    --judge accept) = merged + sum(filtered) + duplicates."""

    correct: int = 0  # validated samples read (the grader said correct)
    judge_recovered: int = 0  # rule-rejected samples the judge said equal the gold
    merged: int = 0
    duplicates: int = 0
    filtered: dict[str, int] = field(default_factory=dict)  # reason -> samples dropped

    def drop(self, reason: str) -> None:
        self.filtered[reason] = self.filtered.get(reason, 0) + 1

    def as_dict(self, judge_accept: bool) -> dict:
        considered = self.correct + (self.judge_recovered if judge_accept else 0)
        return {
            "correct": self.correct,
            "judge_recovered": self.judge_recovered,
            "considered": considered,  # = merged + filtered + duplicates
            "merged": self.merged,
            "filtered": sum(self.filtered.values()),
            "duplicates": self.duplicates,
            "by_reason": dict(sorted(self.filtered.items())),
        }


def total(rows: dict[str, dict]) -> dict:
    """The sum of as_dict() rows."""
    out = {k: 0 for k in ("correct", "judge_recovered", "considered", "merged", "filtered")}
    out["duplicates"], out["by_reason"] = 0, {}
    for row in rows.values():
        for k, v in row.items():
            if k == "by_reason":
                for reason, n in v.items():
                    out["by_reason"][reason] = out["by_reason"].get(reason, 0) + n
            else:
                out[k] += v
    out["by_reason"] = dict(sorted(out["by_reason"].items()))
    return out


def write_summary(out: str | os.PathLike, sel: Selection, fmt: str, tallies: dict[str, Tally]):
    """merged/merge_summary.json: settings, per source x type counts, totals; returns it."""
    rows = {k: t.as_dict(sel.judge == "accept") for k, t in sorted(tallies.items())}
    summary = {
        "created": time.time(),
        "format": fmt,
        **sel.settings(),
        "audit_file": str(audit_file(out)),
        "by_source_type": rows,
        "totals": total(rows),
    }
    text = json.dumps(summary, ensure_ascii=False, indent=2) + "\n"
    atomic_write_text(summary_file(out), text)
    return summary


def read_summary(out: str | os.PathLike) -> dict | None:
    """The last merge's merge_summary.json, or None (no merge yet, or unreadable)."""
    try:
        data = json.loads(summary_file(out).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return None
    return data if isinstance(data, dict) else None
