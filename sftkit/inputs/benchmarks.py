r"""Benchmark files for --decontaminate: read their problems, digest them, index them.

Pipeline order: benchmark_rows() (one file) -> load_benchmarks() (all files -> BenchIndex and
a BenchFile per file) -> sftkit.inputs.decontam.find_contaminated().

A benchmark file comes in any shape a problem set comes in: JSONL, JSON (a list of objects, or
{"data": [...]}), parquet, CSV, or a folder written by `datasets`' `save_to_disk` (every split).
The problem field is the first of `problem`, `question`, `prompt`, `input` (any case: GPQA's
`Question`, AIME 2024's `Problem`); `problem_field` names another. Rows count from 1: the line of
a JSONL file, the data row of the other shapes.

Usage:
    index, files = load_benchmarks(["bench/math500.jsonl", "bench/aime24"], n=8)
    files[0]  # BenchFile(path="bench/math500.jsonl", rows=500, digest="sha256:9f86d081884c7d65")
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from sftkit.common.jsonl import InputError, read_jsonl
from sftkit.inputs.decontam import BenchIndex, build_index

PROBLEM_FIELDS = ("problem", "question", "prompt", "input")
SUFFIXES = (".jsonl", ".json", ".parquet", ".csv")


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


def _problem_key(names, path, problem_field: str | None) -> str:
    """The column holding the problem: ["ID", "Question", "Answer"] -> "Question"."""
    names = list(names)
    if problem_field:
        if problem_field in names:
            return problem_field
        raise InputError(
            f"{path}: no field {problem_field!r} (fields present: {', '.join(names) or 'none'})"
        )
    lower = {n.lower(): n for n in reversed(names)}
    for want in PROBLEM_FIELDS:
        if want in lower:
            return lower[want]
    raise InputError(
        f"{path}: no problem field ({'/'.join(PROBLEM_FIELDS)}; fields present: "
        f"{', '.join(names) or 'none'})"
    )


def _objects(path: Path) -> Iterator[tuple[int, dict]]:
    """(row, object) of a JSONL or JSON file."""
    if path.suffix.lower() == ".jsonl":
        yield from read_jsonl(path)
        return
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InputError(f"{path}: not a JSON file ({exc})") from None
    if isinstance(data, dict) and isinstance(data.get("data"), list):
        data = data["data"]
    if not isinstance(data, list):
        raise InputError(f"{path}: expected a JSON list of objects")
    for row, obj in enumerate(data, 1):
        if not isinstance(obj, dict):
            raise InputError(f"{path}:{row}: expected an object, got {type(obj).__name__}")
        yield row, obj


def _columns(path: Path) -> Iterator[tuple[list[str], Iterator[dict]]]:
    """(column names, rows) of each table in a parquet file, CSV file or save_to_disk folder."""
    import pyarrow as pa  # here: reading JSONL benchmarks needs neither pyarrow nor datasets

    try:
        if path.is_dir():
            import datasets

            loaded = datasets.load_from_disk(str(path))
            splits = loaded.values() if isinstance(loaded, datasets.DatasetDict) else [loaded]
            tables = [split.data.table for split in splits]
        elif path.suffix.lower() == ".parquet":
            import pyarrow.parquet as pq

            tables = [pq.read_table(path)]
        else:
            import pyarrow.csv as pcsv

            tables = [pcsv.read_csv(path)]
    except (OSError, ValueError, pa.ArrowException, FileNotFoundError) as exc:
        raise InputError(f"{path}: cannot read ({type(exc).__name__}: {exc})") from None
    for table in tables:
        yield table.column_names, (row for b in table.to_batches() for row in b.to_pylist())


def benchmark_rows(path: str | Path, problem_field: str | None = None) -> Iterator[tuple[int, str]]:
    """(row, problem text) of every problem in one benchmark file; InputError naming the file
    (and row) when it cannot be read or a row has no problem text."""
    path = Path(path)
    if not path.exists():
        raise InputError(f"{path}: no such benchmark file")
    if path.is_file() and path.suffix.lower() not in SUFFIXES:
        raise InputError(f"{path}: not a benchmark file ({', '.join(SUFFIXES)} or a folder)")
    if path.is_file() and path.suffix.lower() in (".jsonl", ".json"):
        key = None
        for row, obj in _objects(path):
            key = key or _problem_key(obj, path, problem_field)
            yield row, _text(obj.get(key), f"{path}:{row}", obj)
        return
    row = 0
    for names, rows in _columns(path):
        key = _problem_key(names, path, problem_field)
        for obj in rows:
            row += 1
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
