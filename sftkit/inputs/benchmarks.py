r"""Benchmark files for --decontaminate: read their problems, digest them, index them.

Pipeline order: benchmark_rows() (one file) -> load_benchmarks() (all files -> BenchIndex and
a BenchFile per file) -> sftkit.inputs.decontam.find_contaminated().

A benchmark file comes in any shape a problem set comes in, read as the generator reads its
inputs (sftkit.inputs.readers): JSONL, JSON, parquet, CSV, or a folder written by `datasets`'
`save_to_disk` (every split). The problem field is detected as for inputs (sftkit.inputs.fields:
`problem`, `question`, `prompt`, `input`, in any case: GPQA's `Question`, AIME 2024's
`Problem`); `problem_field` names another. Rows count from 1: the line of a JSONL file, the data
row of the other shapes.

Usage:
    index, files = load_benchmarks(["bench/math500.jsonl", "bench/aime24"], n=8)
    files[0]  # BenchFile(path="bench/math500.jsonl", rows=500, digest="sha256:9f86d081884c7d65")
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from sftkit.common.jsonl import InputError
from sftkit.inputs.decontam import BenchIndex, build_index
from sftkit.inputs.fields import detect_fields
from sftkit.inputs.readers import read_rows


@dataclass(frozen=True)
class BenchFile:
    path: str  # as given on the command line
    rows: int  # benchmark problems read from it
    digest: str  # "sha256:<16 hex>" of its bytes (a folder: its files' names and bytes)


def file_digest(path: str | Path) -> str:
    """'sha256:<16 hex>' of a file's bytes, or of a folder's files (relative names and bytes, in
    sorted order): the same content under another name has the same digest."""
    path = Path(path)
    digest = hashlib.sha256()
    files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
    for f in files:
        if path.is_dir():
            digest.update(str(f.relative_to(path)).encode("utf-8") + b"\0")
        with f.open("rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                digest.update(block)
    return f"sha256:{digest.hexdigest()[:16]}"


def benchmark_rows(path: str | Path, problem_field: str | None = None) -> Iterator[tuple[int, str]]:
    """(row, problem text) of every problem in one benchmark file, read by the generator's own
    readers (sftkit.inputs.readers) with its field detection (sftkit.inputs.fields);
    `problem_field` (--fields problem=NAME) is used where the file has that field. InputError
    naming the file (and row) when it cannot be read or a row has no problem text."""
    path = Path(path)
    if not path.exists():
        raise InputError(f"{path}: no such benchmark file")
    key = None
    for row, obj in read_rows(path):
        if isinstance(obj, str):
            raise InputError(obj)
        if key is None:
            columns = list(obj)
            override = {"problem": problem_field} if problem_field in columns else {}
            key = detect_fields(columns, override, str(path)).problem
        yield row, _text(obj.get(key), f"{path}:{row}", obj)


def _text(value, where: str, obj: dict) -> str:
    if not isinstance(value, str) or not value.strip():
        raise InputError(f"{where}: no problem text (fields present: {', '.join(obj)})")
    return value


def load_benchmarks(
    paths, n: int, problem_field: str | None = None
) -> tuple[BenchIndex, list[BenchFile]]:
    """One index over every benchmark file, and what was read from each."""
    counts: dict[str, int] = {}

    def rows():
        for path in paths:
            counts[str(path)] = 0
            for row, text in benchmark_rows(path, problem_field):
                counts[str(path)] += 1
                yield str(path), row, text, None

    index = build_index(rows(), n=n)
    files = [BenchFile(str(p), counts[str(p)], file_digest(p)) for p in paths]
    for f in files:
        if not f.rows:
            raise InputError(f"{f.path}: no benchmark problems in it")
    return index, files
