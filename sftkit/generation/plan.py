"""Planning: the problem files of a run, what is stored already, and the jobs for the rest.

load_inputs(cfg) -> (versions, sentences); plan_jobs(...) -> [Job(v0, samples=(0,)), ...]
breadth-first (sample 0 of every problem first). A Job is one request; its Result carries
`error` instead of raising.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path

from sftkit.common.jsonl import InputError
from sftkit.generation.config import Config
from sftkit.inputs.collect import Inputs, collect, input_files, log_inputs
from sftkit.inputs.fields import parse_fields
from sftkit.inputs.instructions import Sentences, load_sentences
from sftkit.inputs.problems import Version, build_prompt, build_versions
from sftkit.output import layout
from sftkit.watching.index import SampleSet

log = logging.getLogger("generate")


# --------------------------------------------------------------------------- inputs


def input_paths(cfg: Config) -> tuple[list[Path], list[tuple[Path, str]]]:
    """The problem files of this run and the files skipped with why: --input_file (files,
    save_to_disk folders, globs), else every problem file of --data_dir."""
    paths, skipped = input_files(cfg.data_dir, cfg.input_files)
    stems = [p.stem for p in paths]
    dup = {s for s in stems if stems.count(s) > 1}
    if dup:
        raise InputError(f"{paths[stems.index(dup.pop())]}: two input files share the source name")
    for path in paths:
        # The source name is a folder next to merged/ and names its merged file: it must not
        # be either of those, nor hidden from the watcher and the merge.
        if path.stem in (layout.MERGED_DIR, layout.ALL_NAME) or path.stem.startswith("."):
            raise InputError(
                f"{path}: the source name {path.stem!r} is reserved for merged output; "
                "rename the file"
            )
    return paths, skipped


@dataclass(frozen=True)
class RunInputs:
    versions: list[Version]
    sentences: Sentences
    summary: dict  # .generation.json "inputs": files, fields, golds, bad rows, merged


def summarize(inputs: Inputs, skipped: list[tuple[Path, str]], cfg: Config) -> dict:
    """What the report keeps about the inputs: {"files": [...], "bad_rows_skipped": 0, ...}."""
    return {
        "files": [
            {
                "path": str(f.path),
                "source": f.path.stem,
                "problems": len(f.problems),
                "fields": f.fields.describe() if f.fields else None,
                "gold_from": dict(f.gold_sources),
                "bad_rows_skipped": len(f.bad_rows),
            }
            for f in inputs.files
        ],
        "skipped_files": [{"path": str(p), "why": why} for p, why in skipped],
        "problems": len(inputs.problems),
        "bad_rows_skipped": len(inputs.bad_rows),
        "identical_merged": len(inputs.merged),
        "versions": cfg.versions,
    }


def load_run_inputs(cfg: Config) -> RunInputs:
    """Every version asked of every problem, the instruction sentences, and the inputs summary;
    logs the files taken and skipped, the field mapping and gold source per file; InputError on
    bad input (file:row: what is wrong)."""
    paths, skipped = input_paths(cfg)
    inputs = collect(paths, parse_fields(cfg.fields), cfg.skip_bad_rows)
    log_inputs(inputs, skipped, log)
    versions = [v for p in inputs.problems for v in build_versions(p, cfg.versions)]
    if not versions:
        raise InputError(
            f"{paths[0]}: --versions {cfg.versions} asks nothing of these problems "
            "(none has choices); use --versions auto"
        )
    if not Path(cfg.sentences).is_file():
        raise InputError(f"{cfg.sentences}: no such file (instruction sentences)")
    sentences = load_sentences(cfg.sentences)
    log.info(
        "versions: %d to ask (--versions %s); instructions: %d sentences from %s",
        len(versions),
        cfg.versions,
        len(sentences),
        cfg.sentences,
    )
    return RunInputs(versions, sentences, summarize(inputs, skipped, cfg))


def load_inputs(cfg: Config) -> tuple[list[Version], Sentences]:
    """Every version of every problem, and the instruction sentences; raises InputError."""
    run = load_run_inputs(cfg)
    return run.versions, run.sentences


# --------------------------------------------------------------------------- planning


@dataclass(frozen=True)
class Job:
    version: Version
    prompt: str
    samples: tuple[int, ...]  # sample indices answered by this one request (n = len)
    round: int = 0  # 0 = first pass, r = retry_zero round r


@dataclass
class Result:
    job: Job
    choices: list[dict] | None = None
    usage: dict | None = None
    model: str | None = None
    endpoint: str = ""
    error: str | None = None
    status: int | None = None
    timed_out: bool = False  # the reply did not come within --timeout
    malformed: bool = False  # a 200 with no usable choice (cut-off JSON, no choices, ...)


def key_of(version: Version) -> str:
    """The "<source>/<type>" a version's samples are counted under: "2022_math/multiples"."""
    return f"{version.problem.source}/{version.type}"


def scan_stored(cfg: Config, versions: list[Version]) -> dict[str, SampleSet]:
    """Names of complete sample files per "<source>/<type>", one bit per sample (a million
    stored samples take a few megabytes); removes temp files of a killed run.

    Concurrent generators on one output folder are not supported, so any `.*.tmp` left in a
    type folder is an interrupted write of ours.
    """
    stored: dict[str, SampleSet] = {}
    for version in versions:
        key = key_of(version)
        if key in stored:
            continue
        names = SampleSet()
        folder = layout.type_dir(cfg.output_dir, version.problem.source, version.type)
        if folder.is_dir():
            with os.scandir(folder) as it:
                for entry in it:
                    if entry.name.endswith(".tmp") and entry.name.startswith("."):
                        os.unlink(entry.path)
                    elif layout.parse_sample_name(entry.name) and entry.stat().st_size > 0:
                        names.add(entry.name)
        stored[key] = names
    return stored


def plan_jobs(
    cfg: Config,
    versions: list[Version],
    sentences: Sentences,
    stored: dict[str, SampleSet],
    indices: dict[int, range] | range,
    stats: dict[str, dict[str, int]],
    round_no: int = 0,
) -> list[Job]:
    """Jobs for the missing samples, breadth-first: sample 0 of every problem, then sample 1, ...

    `indices` is one range for all versions, or a range per position in `versions`.
    Samples of one version whose prompts are identical share a request (n > 1).
    n=2, nothing stored -> [Job(v0, samples=(0,)), Job(v1, (0,)), ..., Job(v0, (1,)), ...];
    with --same_prompt -> [Job(v0, samples=(0, 1)), Job(v1, (0, 1)), ...]
    """
    jobs: list[tuple[tuple, Job]] = []
    for pos, version in enumerate(versions):
        wanted = indices.get(pos) if isinstance(indices, dict) else indices
        if not wanted:
            continue
        key, p = key_of(version), version.problem.index
        st = stats[key]
        st["planned"] += len(wanted)
        if round_no:
            st["retry_samples"] += len(wanted)
        names = stored[key]
        groups: dict[str, list[int]] = {}
        for s in wanted:
            if layout.sample_name(p, s) in names:
                st["skipped_existing"] += 1
                continue
            prompt = build_prompt(version, sentences, 0 if cfg.same_prompt else s)
            groups.setdefault(prompt, []).append(s)
        for prompt, samples in groups.items():
            for i in range(0, len(samples), cfg.max_n):
                chunk = tuple(samples[i : i + cfg.max_n])
                order = (chunk[0], pos)
                jobs.append((order, Job(version, prompt, chunk, round_no)))
    jobs.sort(key=lambda item: item[0])
    return [job for _, job in jobs]
