"""Storage: the sample record written per choice, and the failures.jsonl lines.

build_record(cfg, result, sample, choice, now) -> the rendered conversation + answer + meta;
failure_record(...) -> {"generation_id": "src/multiples/3_1", ..., "error": "timeout"}.
"""

from __future__ import annotations

import logging
import time

from sftkit.common.jsonl import atomic_write_jsonl, read_log
from sftkit.generation.config import Config
from sftkit.generation.plan import Job, Result
from sftkit.output import layout
from sftkit.output.filters import think_audit
from sftkit.output.formats import Conversation, add_answer_meta, render, split_reasoning
from sftkit.watching.index import SampleSet

log = logging.getLogger("generate")


# --------------------------------------------------------------------------- storage


def build_record(cfg: Config, result: Result, sample: int, choice: dict, created: float) -> dict:
    r"""The stored sample: rendered conversation + `answer` + `meta` (see ARCHITECTURE.md).

    content "<think>a</think>\boxed{3}" -> messages[-1].content "<think>\na\n</think>\n\n\boxed{3}"
    """
    job, version = result.job, result.job.version
    problem = version.problem
    msg = choice.get("message")
    msg = msg if isinstance(msg, dict) else {}
    given = msg.get("reasoning_content") or msg.get("reasoning")
    content = msg.get("content")
    reasoning, final = split_reasoning(
        content if isinstance(content, str) else None, given if isinstance(given, str) else None
    )
    conv = Conversation(prompt=job.prompt, content=final, reasoning=reasoning, system=cfg.system)
    gid = f"{problem.source}/{version.type}/{problem.index}_{sample}"
    usage = result.usage or {}
    k = len(job.samples)
    completion = usage.get("completion_tokens")
    finish = choice.get("finish_reason")
    meta = {
        "source": problem.source,
        "problem_index": problem.index,
        "problem_id": problem.id,
        # "<file name>:<row>": joins the sample back to its input row and the row's other fields.
        "row_key": problem.row_key,
        "type": version.type,
        "sample_index": sample,
        "generation_id": gid,
        "model": result.model,
        "prompt": job.prompt,
        "finish_reason": finish,
        "truncated": finish == "length",
        # A request with n > 1 reports one total: the completion tokens are split evenly.
        "usage": {
            "prompt_tokens": usage.get("prompt_tokens"),
            "completion_tokens": completion // k if isinstance(completion, int) else None,
        },
        "reasoning": reasoning,
        # The reply's think tags as the server sent them (storage balances them): an unclosed
        # block or a stray tag in the answer is what the merge's filters drop.
        "think": think_audit(
            content if isinstance(content, str) else None, given if isinstance(given, str) else None
        ),
        "format": cfg.fmt,
        "reasoning_mode": cfg.reasoning,
        "created": created,
    }
    return add_answer_meta(render(conv, cfg.fmt, cfg.reasoning), cfg.fmt, version.gold, meta)


def prune_failures(cfg: Config, stored: dict[str, SampleSet]) -> None:
    """Leave in each source's failures.jsonl only its open failures: the last line per sample
    that is still not stored. A rerun that stores a sample that once failed closes its failure.
    Lines that name no sample this run knows are kept as they are."""
    for source in sorted({key.split("/", 1)[0] for key in stored}):
        path = layout.failures_file(cfg.output_dir, source)
        records, bad = read_log(path)
        if not records:
            continue
        open_: dict[tuple, dict] = {}
        for lineno, rec in records:
            names = stored.get(f"{source}/{rec.get('type')}")
            p, s = rec.get("problem_index"), rec.get("sample_index")
            if names is None or not isinstance(p, int) or not isinstance(s, int):
                open_[("line", lineno)] = rec
            elif layout.sample_name(p, s) not in names:
                open_.pop((rec["type"], p, s), None)  # the newest line per sample, in file order
                open_[(rec["type"], p, s)] = rec
        if len(open_) == len(records) and not bad:
            continue
        if open_:
            atomic_write_jsonl(path, open_.values())
        else:
            path.unlink(missing_ok=True)
        closed = len(records) - len(open_)
        log.info("%s: %d failure line(s) closed or superseded, %d open", path, closed, len(open_))


def failure_record(cfg: Config, job: Job, sample: int, error: str, result: Result) -> dict:
    """One failures.jsonl line: {"generation_id": "src/multiples/3_1", ..., "error": "timeout"}."""
    p = job.version.problem
    return {
        "generation_id": layout.generation_id(p.source, job.version.type, p.index, sample),
        "source": p.source,
        "problem_index": p.index,
        "problem_id": p.id,
        "type": job.version.type,
        "sample_index": sample,
        "round": job.round,
        "error": error,
        "status": result.status,
        "endpoint": result.endpoint,
        "max_retries": cfg.max_retries,
        "failed_at": time.time(),
    }
