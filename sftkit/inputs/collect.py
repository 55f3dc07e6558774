"""All problem files of a run: which files, read with which fields, identical problems merged.

Pipeline order: input_files() -> collect() (read_problem_file per file, then merge_identical())
-> log_inputs().

A problem asked twice costs twice the GPU time and weighs twice in the training data, so a
problem with the same text (whitespace aside), options and gold as an earlier one, in the same
file or another, is asked once: the first stays, the later ones are counted as merged.

Usage:
    paths, skipped = input_files("mydata", [])
    inputs = collect(paths, parse_fields("problem=question"), skip_bad_rows=False)
    log_inputs(inputs, skipped, log)
    inputs.problems, inputs.merged, inputs.bad_rows
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

from sftkit.common.jsonl import InputError
from sftkit.inputs.problems import Problem, ProblemFile, clean_text, read_problem_file
from sftkit.inputs.readers import expand_input_files, find_problem_files

SHOW_FIRST = 5  # bad rows and merged problems named in the log; the rest are counted


def input_files(
    data_dir: str | Path, patterns: list[str] | tuple[str, ...]
) -> tuple[list[Path], list[tuple[Path, str]]]:
    """The files of the run and the files skipped with why: --input_file (files, folders,
    globs) when given, else every problem file in data_dir. InputError if there are none."""
    if patterns:
        return expand_input_files(patterns), []
    taken, skipped = find_problem_files(data_dir)
    if not taken:
        raise InputError(
            f"{data_dir}: no problem files (.jsonl, .json, .parquet, .csv or a save_to_disk folder)"
        )
    return taken, skipped


def identity(problem: Problem) -> tuple:
    """What makes two problems the same: text with whitespace collapsed, options, gold.

    "Find  x.\\n" with gold "3" and "Find x." with gold "3" -> the same key.
    """
    text = " ".join(clean_text(problem.text).split())
    options = tuple(" ".join(c.split()) for c in problem.choices or ())
    return text, problem.labels, options, " ".join(str(problem.answer).split())


@dataclass
class Inputs:
    problems: list[Problem]
    files: list[ProblemFile]
    merged: list[tuple[Problem, Problem]] = field(default_factory=list)  # (dropped, kept)

    @property
    def bad_rows(self) -> list[str]:
        return [line for f in self.files for line in f.bad_rows]


def merge_identical(problems: list[Problem]) -> tuple[list[Problem], list[tuple[Problem, Problem]]]:
    """(problems with each identity once, in input order; [(dropped, the one kept)])."""
    first: dict[tuple, Problem] = {}
    kept, merged = [], []
    for problem in problems:
        key = identity(problem)
        if key in first:
            merged.append((problem, first[key]))
        else:
            first[key] = problem
            kept.append(problem)
    return kept, merged


def collect(
    paths: list[Path], fields: dict[str, str] | None = None, skip_bad_rows: bool = False
) -> Inputs:
    """Read every file (InputError on the first bad row unless skip_bad_rows), then merge
    identical problems across all of them."""
    files = [read_problem_file(p, fields, skip_bad_rows) for p in paths]
    kept, merged = merge_identical([p for f in files for p in f.problems])
    if not kept:
        raise InputError(f"{paths[0]}:1: no readable problems (all rows were skipped)")
    return Inputs(kept, files, merged)


def log_inputs(inputs: Inputs, skipped: list[tuple[Path, str]], log: logging.Logger) -> None:
    """The log lines a user checks before a long run: files taken with their field mapping and
    gold source, files skipped and why, bad rows skipped, identical problems merged."""
    for f in inputs.files:
        golds = ", ".join(f"{n} from the {how}" for how, n in f.gold_sources.most_common())
        fields = f.fields.describe() if f.fields else "-"
        log.info(
            "input %s: %d problems; fields %s; gold: %s",
            f.path,
            len(f.problems),
            fields,
            golds or "none",
        )
    for path, why in skipped:
        log.info("input %s skipped: %s", path, why)
    bad = inputs.bad_rows
    if bad:
        log.warning(
            "%d bad rows skipped (--skip_bad_rows), the first %d:",
            len(bad),
            min(len(bad), SHOW_FIRST),
        )
        for line in bad[:SHOW_FIRST]:
            log.warning("  %s", line)
    if inputs.merged:
        log.info("%d identical problems merged (asked once), e.g.:", len(inputs.merged))
        for dropped, kept in inputs.merged[:SHOW_FIRST]:
            log.info("  %s same as %s", dropped.row_key, kept.row_key)
