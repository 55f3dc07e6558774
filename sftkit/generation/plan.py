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
from sftkit.inputs.problems import (
    Version,
    build_prompt,
    build_versions,
    load_problems,
    load_sentences,
)
from sftkit.output import layout
from sftkit.watching.index import SampleSet

log = logging.getLogger("generate")


# --------------------------------------------------------------------------- inputs


def input_paths(cfg: Config) -> list[Path]:
    """The problem files of this run: --input_file, else every <data_dir>/*_math.jsonl."""
    if cfg.input_files:
        paths = [Path(f) for f in cfg.input_files]
        for path in paths:
            if not path.is_file():
                raise InputError(f"{path}: no such file")
    else:
        folder = Path(cfg.data_dir)
        if not folder.is_dir():
            raise InputError(f"{folder}: no such folder")
        paths = sorted(folder.glob("*_math.jsonl"))
        if not paths:
            raise InputError(f"{folder}: no *_math.jsonl problem files")
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
    return paths


def load_inputs(cfg: Config) -> tuple[list[Version], list[str]]:
    """Every version of every problem, and the instruction sentences; raises InputError."""
    versions = []
    for path in input_paths(cfg):
        for problem in load_problems(path):
            versions.extend(build_versions(problem))
    if not Path(cfg.sentences).is_file():
        raise InputError(f"{cfg.sentences}: no such file (instruction sentences)")
    sentences = load_sentences(cfg.sentences)
    log.info("instructions: %d sentences from %s", len(sentences), cfg.sentences)
    return versions, sentences


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
    sentences: list[str],
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
