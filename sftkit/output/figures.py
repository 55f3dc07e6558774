"""The per-sample figures the report counts (tokens, truncation, reasoning), read from a sample's
meta once: by the watcher, which writes them into the sample's verdict line, and by the report,
for a sample whose verdict line does not carry them. With them in the verdict log, the report of
a million stored samples reads the log and the folder listing, not a million sample files.

Usage:
    line.update(sample_figures(record))     # the watcher, writing a verdict line
    figures = line_figures(verdict_line)    # SampleFigures, or None for a line without them

{"meta": {"usage": {"prompt_tokens": 40, "completion_tokens": 200}, "finish_reason": "length"}}
-> {"prompt_tokens": 40, "completion_tokens": 200, "truncated": True, "with_reasoning": False}
"""

from __future__ import annotations

from typing import NamedTuple

FIELDS = ("prompt_tokens", "completion_tokens", "truncated", "with_reasoning")
TOKEN_LIMIT = 1 << 31  # the compact index keeps token counts as 32-bit signed integers


class SampleFigures(NamedTuple):
    prompt_tokens: int
    completion_tokens: int
    truncated: bool
    with_reasoning: bool


def meta_figures(meta: object) -> SampleFigures:
    """The figures of one sample's meta; a missing or odd value counts as 0 / False.

    {"truncated": False, "finish_reason": "length", "reasoning": "..."} -> (0, 0, True, True)
    """
    if not isinstance(meta, dict):
        return SampleFigures(0, 0, False, False)
    usage = meta.get("usage") if isinstance(meta.get("usage"), dict) else {}
    tokens = [usage.get(k) for k in ("prompt_tokens", "completion_tokens")]
    prompt, completion = (t if type(t) is int else 0 for t in tokens)
    truncated = bool(meta.get("truncated")) or meta.get("finish_reason") == "length"
    reasoning = isinstance(meta.get("reasoning"), str) and bool(meta["reasoning"])
    return SampleFigures(prompt, completion, truncated, reasoning)


def sample_figures(record: dict | None) -> dict:
    """The fields a verdict line carries for the report; {} for no record (an unreadable file)
    or token counts too large for the compact index (the report then reads the file)."""
    if not isinstance(record, dict):
        return {}
    figures = meta_figures(record.get("meta"))
    if not all(-TOKEN_LIMIT <= t < TOKEN_LIMIT for t in figures[:2]):
        return {}
    return figures._asdict()


def line_figures(line: dict) -> SampleFigures | None:
    """The figures a verdict line carries, or None when it lacks any of them (a line written
    before they were kept, or by another tool)."""
    values = [line.get(k) for k in FIELDS]
    prompt, completion, truncated, reasoning = values
    if type(prompt) is not int or type(completion) is not int:
        return None
    if not (-TOKEN_LIMIT <= prompt < TOKEN_LIMIT and -TOKEN_LIMIT <= completion < TOKEN_LIMIT):
        return None
    if type(truncated) is not bool or type(reasoning) is not bool:
        return None
    return SampleFigures(prompt, completion, truncated, reasoning)
