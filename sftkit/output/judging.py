r"""The optional judge at merge time: ask a model about the answers the rules rejected.

Only samples whose current verdict is `mismatch` or `unparseable` are asked about, and only those
the merge's filters would keep (never `no_box`, a truncated or a hedged sample). Each answer goes
to the judge once: its verdict is kept in `<source>/<type>_judge.jsonl` beside the verdict log,
one line per sample holding both verdicts (`rule`, `judge`) and the sample file's stamp, so a
rerun of `--merge_only` asks only about samples it has no verdict for (an error or a changed
file is asked again). The judge fails safe: an error or a timeout leaves the rule's verdict.

The merge reads the judge logs (judge_recovered()): a recovered sample is counted apart and
listed in merged/judge_recovered.jsonl; it is merged only with `--judge accept`.

Pipeline order: pending() per type -> run_judge() (sftkit/grading/judge.py) -> append lines ->
judge_output() returns the counts; judge_recovered() for the merge.

Usage:
    counts = judge_output("sft_output", JudgeConfig(model="Qwen/Qwen3-8B"), selection)
    # {"asked": 12, "yes": 2, "no": 9, "errors": 1, "cached": 40}
"""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path

from sftkit.common.jsonl import append_jsonl
from sftkit.grading.judge import JUDGED_REASONS, JudgeConfig, JudgeJob, run_judge
from sftkit.output import layout
from sftkit.output.formats import parse
from sftkit.output.selection import PASS_RATE, Selection

log = logging.getLogger("generate")
JUDGE_SUFFIX = layout.JUDGE_SUFFIX
RECOVERED_NAME = "judge_recovered.jsonl"  # in merged/: every recovered sample, merged or not


def judge_log(type_dir: str | os.PathLike) -> Path:
    """<source>/<type>_judge.jsonl beside <source>/<type>_verdicts.jsonl."""
    folder = Path(type_dir)
    return folder.parent / f"{folder.name}{JUDGE_SUFFIX}"


def _stamp(path: Path) -> tuple[int, int] | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_mtime_ns, st.st_size


def _latest(type_dir: Path) -> dict[str, dict]:
    """The latest judge line per sample file of one type folder."""
    return layout.read_verdict_log(judge_log(type_dir))[0]


def _current(line: dict | None, stamp, model: str | None = None) -> bool:
    """A judge line still speaks for the sample: same file content (and the same judge)."""
    return (
        line is not None
        and stamp is not None
        and (line.get("mtime_ns"), line.get("size")) == stamp
        and (model is None or line.get("judge_model") == model)
    )


def pending(type_dir: Path, cfg: JudgeConfig, sel: Selection) -> tuple[list, int]:
    """(jobs with their stored facts, samples already judged) for one type folder: samples whose
    current rule verdict is mismatch/unparseable, that the filters keep, and whose judge line is
    missing, stale, for another judge, or an error."""
    verdicts = layout.read_verdict_log(layout.verdict_log(type_dir))[0]
    judged = _latest(type_dir)
    jobs, cached = [], 0
    for name, verdict in verdicts.items():
        if verdict.get("reason") not in JUDGED_REASONS or verdict.get("is_correct"):
            continue
        path = type_dir / name
        st = _stamp(path)
        if st is None or (
            "size" in verdict and (verdict.get("mtime_ns"), verdict.get("size")) != st
        ):
            continue  # gone, or changed since graded: the watcher grades it again first
        line = judged.get(name)
        if _current(line, st, cfg.model) and line.get("judge") is not None:
            cached += 1
            continue
        try:
            record = layout.read_sample(path)
        except (OSError, ValueError):
            continue
        if sel.drop_reason(record, None) not in (None, PASS_RATE):
            continue  # truncated, hedged, ...: no judge can make it training data
        meta = record.get("meta") if isinstance(record.get("meta"), dict) else {}
        extracted = verdict.get("extracted_answer")
        if not isinstance(extracted, str) or not extracted.strip():
            continue
        conv = parse(record)
        problem = str(meta.get("prompt") or (conv.prompt if conv else ""))
        job = JudgeJob(name, problem, str(record.get("answer")), extracted)
        jobs.append((job, verdict.get("reason"), st))
    return jobs, cached


def judge_output(out: str | os.PathLike, cfg: JudgeConfig, sel: Selection) -> dict[str, int]:
    """Judge every pending rule-rejected sample of the output folder; append the verdicts to the
    judge logs; return the counts. Never raises for the judge's own failures."""
    counts = dict.fromkeys(("asked", "yes", "no", "errors", "cached"), 0)
    out = Path(out)
    for source in layout.list_sources(out):
        for type_ in layout.source_types(out / source, verdicts=True):
            type_dir = out / source / type_
            jobs, cached = pending(type_dir, cfg, sel)
            counts["cached"] += cached
            if not jobs:
                continue
            results = run_judge(cfg, [job for job, _, _ in jobs])
            lines = []
            for (job, rule, st), result in zip(jobs, results, strict=True):
                counts["asked"] += 1
                key = {True: "yes", False: "no", None: "errors"}[result.equivalent]
                counts[key] += 1
                lines.append(
                    {
                        "file": job.key,
                        "rule": rule,
                        "judge": result.equivalent,
                        "judge_model": cfg.model,
                        "reply": result.reply,
                        "error": result.error,
                        "gold": job.gold,
                        "extracted_answer": job.extracted,
                        "mtime_ns": st[0],
                        "size": st[1],
                        "judged_at": time.time(),
                    }
                )
            append_jsonl(judge_log(type_dir), *lines)
    return counts


def judge_recovered(type_dir: str | os.PathLike) -> dict[str, dict]:
    """name -> judge line of the samples the judge said equal the gold, whose file has not
    changed since and whose rule verdict is still a rejection (a regrade may have fixed it)."""
    folder = Path(type_dir)
    found = {}
    lines = _latest(folder)
    if not lines:
        return found
    verdicts = layout.read_verdict_log(layout.verdict_log(folder))[0]
    for name, line in lines.items():
        if line.get("judge") is not True:
            continue
        verdict = verdicts.get(name) or {}
        if verdict.get("is_correct") or verdict.get("reason") not in JUDGED_REASONS:
            continue
        if _current(line, _stamp(folder / name)):
            found[name] = line
    return dict(sorted(found.items(), key=lambda kv: layout.parse_sample_name(kv[0]) or (0, 0)))


def recovered_line(source: str, type_: str, name: str, line: dict, merged: bool) -> dict:
    """One line of merged/judge_recovered.jsonl: a sample the judge recovered, both verdicts,
    and whether this merge took it (--judge accept)."""
    return {
        **layout.sample_identity(source, type_, name),
        "rule": line.get("rule"),
        "judge": line.get("judge"),
        "judge_model": line.get("judge_model"),
        "gold": line.get("gold"),
        "extracted_answer": line.get("extracted_answer"),
        "merged": merged,
    }
