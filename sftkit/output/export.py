"""`--export parquet`: the merged JSONL files written again as parquet, beside them in merged/.

Pipeline order: export_parquet() -> (per merged file) _schema() -> _write().

Usage:
    stats = merge_outputs("sft_output", "messages")
    export_parquet(stats.outputs)   # [merged/sft_math_all_messages.parquet, merged/src_messages.parquet]
    datasets.load_dataset("parquet", data_files="sft_output/merged/sft_math_all_messages.parquet")

Two streaming passes per file, a bounded batch of lines at a time, so a file of gigabytes never
sits in memory: the first unifies the column types of every batch (a `meta` key present in some
records only becomes a nullable column), the second writes the rows with that schema. A top-level
column whose types cannot be unified (a value that is a number in one record and an object in
another) is stored as JSON text instead, so the export never fails on what the merge wrote.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Iterator
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

BATCH_BYTES = 64 * 1024 * 1024  # JSON text per batch: ~3x that in Python objects at peak


def parquet_path(jsonl: str | os.PathLike) -> Path:
    """merged/sft_math_all_messages.jsonl -> merged/sft_math_all_messages.parquet."""
    return Path(jsonl).with_suffix(".parquet")


def _batches(path: Path) -> Iterator[list[dict]]:
    batch, size = [], 0
    with open(path, encoding="utf-8") as fh:
        for line in fh:
            if not line.strip():
                continue
            batch.append(json.loads(line))
            size += len(line)
            if size >= BATCH_BYTES:
                yield batch
                batch, size = [], 0
    if batch:
        yield batch


def _batch_schema(batch: list[dict], as_json: set[str]) -> pa.Schema:
    """The schema of one batch; a column Arrow cannot type (an object in one record, a number
    in another) joins `as_json` first."""
    try:
        return pa.Table.from_pylist(_as_json(batch, as_json)).schema
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        pass
    for name in {k for row in batch for k in row} - as_json:
        try:
            pa.array([row.get(name) for row in batch])
        except (pa.ArrowInvalid, pa.ArrowTypeError):
            as_json.add(name)
    return pa.Table.from_pylist(_as_json(batch, as_json)).schema


def _schema(path: Path) -> tuple[pa.Schema | None, set[str]]:
    """The unified schema of every batch, and the top-level columns to store as JSON text."""
    as_json: set[str] = set()
    schemas = [_batch_schema(b, as_json) for b in _batches(path)]
    if not schemas:
        return None, as_json
    try:
        if not as_json:
            return pa.unify_schemas(schemas, promote_options="permissive"), as_json
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        # Batches disagree on a column's type: find which, store those as text.
        for name in {n for s in schemas for n in s.names}:
            fields = [pa.schema([s.field(name)]) for s in schemas if name in s.names]
            try:
                pa.unify_schemas(fields, promote_options="permissive")
            except (pa.ArrowInvalid, pa.ArrowTypeError):
                as_json.add(name)
    # Again with the text columns known from the start (the rare path: a third read).
    schemas = [_batch_schema(b, as_json) for b in _batches(path)]
    return pa.unify_schemas(schemas, promote_options="permissive"), as_json


def _as_json(batch: list[dict], names: set[str]) -> list[dict]:
    if not names:
        return batch
    return [
        {k: json.dumps(v, ensure_ascii=False) if k in names and v is not None else v
         for k, v in row.items()}
        for row in batch
    ]  # fmt: skip


def _write(src: Path, dst: Path) -> bool:
    """Write `dst` from `src` (temp file renamed when complete); False if `src` holds no record."""
    schema, as_json = _schema(src)
    if schema is None:
        dst.unlink(missing_ok=True)  # an empty merge: no stale file from an earlier one
        return False
    tmp = dst.with_name(f".{dst.name}.tmp")
    try:
        with pq.ParquetWriter(tmp, schema, compression="zstd") as writer:
            for batch in _batches(src):
                writer.write_table(pa.Table.from_pylist(_as_json(batch, as_json), schema=schema))
        os.replace(tmp, dst)
    finally:
        tmp.unlink(missing_ok=True)
    return True


def export_parquet(merged_files: Iterable[str | os.PathLike]) -> list[Path]:
    """A parquet copy of each merged .jsonl among `merged_files` (MergeStats.outputs); returns
    the parquet files written (a file with no record gets none)."""
    written = []
    for name in merged_files:
        src = Path(name)
        if src.suffix != ".jsonl" or not src.is_file():
            continue
        dst = parquet_path(src)
        if _write(src, dst):
            written.append(dst)
    return written
