"""Screening before any request: drop problems found in a benchmark, find near duplicates.

screen(cfg, versions) -> Screening(kept versions, contamination lines, near-duplicate clusters,
summary); write_screening(output_dir, screening) writes <output>/contamination.jsonl and
<output>/near_duplicates.jsonl once the run may use the folder. The summary goes into
.generation.json, whence report.json and the printed report count it.

    --decontaminate bench/math500.jsonl: 120 problems, 2 share an 8-gram with MATH-500 ->
    Screening(kept=<236 versions>, contamination=[{"source": "algebra", "problem_index": 7, ...}])
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from sftkit.common.jsonl import atomic_write_jsonl
from sftkit.generation.config import Config
from sftkit.inputs import near_dup
from sftkit.inputs.benchmarks import file_digest, load_benchmarks
from sftkit.inputs.decontam import find_contaminated
from sftkit.inputs.fields import parse_fields
from sftkit.inputs.problems import Problem, Version, clean_text
from sftkit.output import layout

log = logging.getLogger("generate")

CONTAMINATION_NAME, NEAR_DUP_NAME = layout.CONTAMINATION_NAME, layout.NEAR_DUP_NAME


@dataclass
class Screening:
    kept: list[Version]
    contamination: list[dict] = field(default_factory=list)  # lines of contamination.jsonl
    clusters: list[dict] = field(default_factory=list)  # lines of near_duplicates.jsonl
    summary: dict = field(default_factory=dict)  # {"decontamination": ..., "near_duplicates": ...}
    near_dup_cache: tuple | None = None  # (key, clusters) to keep for a rerun (near_dup.py)


def _where(p: Problem) -> dict:
    return {"source": p.source, "problem_index": p.index, "id": p.id, "line": p.lineno}


def screening_signature(cfg: Config) -> dict | None:
    """What the screening adds to the run signature: the benchmark files' digests (sorted, so
    neither their names nor their order matter) and the settings that drop problems; None when
    nothing is dropped. {"benchmarks": ["sha256:9f86d081884c7d65"], "decontam_ngram": 8}"""
    sig: dict = {}
    if cfg.decontaminate:
        sig["benchmarks"] = sorted(file_digest(p) for p in cfg.decontaminate)
        sig["decontam_ngram"] = cfg.decontam_ngram
    if cfg.near_dup == "keep_one":
        sig["near_dup"] = f"keep_one at Jaccard {cfg.near_dup_threshold:g}"
    return sig or None


def _decontaminate(cfg: Config, problems: list[Problem], screening: Screening) -> set[int]:
    """Positions in `problems` found in a benchmark; fills screening.contamination."""
    started = time.perf_counter()
    # --fields problem=NAME maps a benchmark file's problem field too, where it has that field.
    problem_field = parse_fields(cfg.fields).get("problem")
    index, files = load_benchmarks(cfg.decontaminate, cfg.decontam_ngram, problem_field)
    rows = ((p.source, i, clean_text(p.text), p.answer) for i, p in enumerate(problems))
    dropped = set()
    per_file: Counter = Counter()
    for hit in find_contaminated(index, rows):
        p = problems[hit.row]
        dropped.add(hit.row)
        per_file[hit.benchmark_file] += 1
        screening.contamination.append(
            {
                **_where(p),
                "problem": p.text,
                "benchmark_file": hit.benchmark_file,
                "benchmark_row": hit.benchmark_row,
                "ngram": hit.ngram,
            }
        )
    benchmarks = [
        {"file": f.path, "rows": f.rows, "digest": f.digest, "contaminated": per_file[f.path]}
        for f in files
    ]
    screening.summary["decontamination"] = {
        "ngram": cfg.decontam_ngram,
        "problems_checked": len(problems),
        "contaminated": len(dropped),
        "benchmarks": benchmarks,
        "file": CONTAMINATION_NAME,
    }
    counts = ", ".join(f"{b['file']} {b['contaminated']}" for b in benchmarks)
    log.info(
        "decontamination: %d of %d problems share a %d-gram with a benchmark (%s): dropped "
        "before any request, listed in %s (%.1f s)",
        len(dropped),
        len(problems),
        cfg.decontam_ngram,
        counts,
        CONTAMINATION_NAME,
        time.perf_counter() - started,
    )
    return dropped


def _near_duplicates(cfg: Config, problems: list[Problem], screening: Screening) -> set[int]:
    """Positions in `problems` that keep_one drops (none for report); fills screening.clusters."""
    started = time.perf_counter()
    rows = [(p.source, p.lineno, clean_text(p.text), p.answer) for p in problems]
    key = near_dup.cache_key(rows, cfg.near_dup_threshold)
    clusters = near_dup.load_clusters(layout.near_dup_cache(cfg.output_dir), key)
    if clusters is None:  # not the problems and settings of the last run here
        clusters = near_dup.find_clusters(rows, threshold=cfg.near_dup_threshold)
        screening.near_dup_cache = (key, clusters)
    dropped = near_dup.keep_one(clusters) if cfg.near_dup == "keep_one" else set()
    for k, c in enumerate(clusters):
        members = [
            {**_where(problems[i]), "problem": problems[i].text, "gold": problems[i].answer}
            | {"kept": i not in dropped}
            for i in c.members
        ]
        screening.clusters.append(
            {
                "cluster": k,
                "size": len(c.members),
                "golds_differ": c.golds_differ,
                "min_jaccard": c.min_jaccard,
                "members": members,
            }
        )
    summary = near_dup.summary(clusters, dropped)
    screening.summary["near_duplicates"] = {
        "mode": cfg.near_dup,
        "threshold": cfg.near_dup_threshold,
        "shingle_words": near_dup.DEFAULT_SHINGLE,
        **summary,
        "file": NEAR_DUP_NAME,
    }
    log.info(
        "near duplicates: %d cluster(s) of %d problems (%d with different golds: changed "
        "numbers or a gold error), %d dropped (--near_dup %s), listed in %s (%.1f s)",
        summary["clusters"],
        summary["problems_in_clusters"],
        summary["different_gold_clusters"],
        len(dropped),
        cfg.near_dup,
        NEAR_DUP_NAME,
        time.perf_counter() - started,
    )
    return dropped


def screen(cfg: Config, versions: list[Version]) -> Screening:
    """Drop contaminated problems (--decontaminate), then find near duplicates among the rest
    (--near_dup); InputError naming a benchmark file that cannot be read."""
    problems = list({id(v.problem): v.problem for v in versions}.values())
    screening = Screening(kept=versions)
    gone: set[int] = set()
    if cfg.decontaminate:
        dropped = _decontaminate(cfg, problems, screening)
        gone = {id(problems[i]) for i in dropped}
        problems = [p for i, p in enumerate(problems) if i not in dropped]
    if cfg.near_dup != "off" and problems:
        dropped = _near_duplicates(cfg, problems, screening)
        gone |= {id(problems[i]) for i in dropped}
    if gone:
        screening.kept = [v for v in versions if id(v.problem) not in gone]
        if not screening.kept:
            log.warning("the screening dropped every problem: nothing to ask")
    return screening


def write_screening(output_dir: str, screening: Screening) -> None:
    """<output>/contamination.jsonl and near_duplicates.jsonl, each written when its check ran
    (empty when it found nothing) and removed when it did not run: no stale file."""
    out = Path(output_dir)
    out.mkdir(parents=True, exist_ok=True)
    for name, key, lines in (
        (CONTAMINATION_NAME, "decontamination", screening.contamination),
        (NEAR_DUP_NAME, "near_duplicates", screening.clusters),
    ):
        if key in screening.summary:
            atomic_write_jsonl(out / name, lines)
        else:
            (out / name).unlink(missing_ok=True)
    if screening.near_dup_cache is not None:
        near_dup.save_clusters(layout.near_dup_cache(out), *screening.near_dup_cache)
