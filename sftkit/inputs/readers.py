r"""Read problem files of any common shape into plain rows: JSONL, JSON, parquet, CSV, and a
folder written by `datasets`' `save_to_disk`.

Pipeline order: find_problem_files() / expand_input_files() -> read_rows().

JSON text goes through the standard `json` module, parquet and CSV through `pyarrow`, and a
`save_to_disk` folder through `datasets.load_from_disk`. A row that cannot be read is yielded
as one line of text, `file:row: what is wrong (fields present: …)`, so the caller decides
whether it stops the run or is skipped. Row numbers count from 1: the line for JSONL, the data
row for every other format (a CSV header is not a row).

Usage:
    taken, skipped = find_problem_files("mydata")   # skipped: [(path, "why"), ...]
    for row, obj in read_rows(taken[0]):             # obj: dict, or the error line
        ...
"""

from __future__ import annotations

import csv
import glob
import json
from collections.abc import Iterator
from pathlib import Path

from sftkit.common.jsonl import InputError, parse_lines

FILE_SUFFIXES = (".jsonl", ".json", ".parquet", ".csv")
# Files a data folder holds next to its problems: the instruction sentences.
SENTENCE_PREFIX = "sentences"


def is_saved_dataset(path: Path) -> bool:
    """A folder written by `Dataset.save_to_disk` or `DatasetDict.save_to_disk`."""
    return path.is_dir() and (
        (path / "state.json").is_file() or (path / "dataset_dict.json").is_file()
    )


def find_problem_files(folder: str | Path) -> tuple[list[Path], list[tuple[Path, str]]]:
    """Every readable problem file of `folder` (sorted by name), and the others with the reason.

    "mydata" holding a.jsonl, b.parquet, notes.txt, sentences_ask_boxed.jsonl ->
    ([a.jsonl, b.parquet], [(notes.txt, "not a problem file (.txt)"), (sentences…, "…")])
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise InputError(f"{folder}: no such folder")
    taken, skipped = [], []
    for path in sorted(folder.iterdir()):
        if path.name.startswith("."):
            continue  # hidden: editor and tool files, never data
        if path.is_dir():
            if is_saved_dataset(path):
                taken.append(path)
            else:
                skipped.append((path, "a folder not written by datasets' save_to_disk"))
        elif path.name.startswith(SENTENCE_PREFIX) and path.suffix == ".jsonl":
            skipped.append((path, "instruction sentences, not problems"))
        elif path.suffix.lower() in FILE_SUFFIXES:
            taken.append(path)
        else:
            skipped.append((path, f"not a problem file ({path.suffix or 'no suffix'})"))
    return taken, skipped


def expand_input_files(patterns: list[str] | tuple[str, ...]) -> list[Path]:
    """Each --input_file: a file, a save_to_disk folder, or a glob ("data/*.parquet").

    A glob that matches nothing, or a name that does not exist, raises InputError.
    """
    paths: list[Path] = []
    for pattern in patterns:
        if glob.has_magic(pattern):
            matched = sorted(Path(p) for p in glob.glob(pattern))
            if not matched:
                raise InputError(f"{pattern}: no file matches")
            paths += matched
        else:
            path = Path(pattern)
            if not (path.is_file() or is_saved_dataset(path)):
                raise InputError(f"{path}: no such file")
            paths.append(path)
    return list(dict.fromkeys(paths))  # a file named twice is read once


def _present(obj) -> str:
    return ", ".join(map(str, obj)) if isinstance(obj, dict) and obj else "none"


def _undecodable(path: Path, row: int, raw: bytes, exc: UnicodeDecodeError) -> str:
    """The error line for bytes that are not UTF-8; the fields are read past the bad bytes."""
    try:
        fields = _present(json.loads(raw.decode("utf-8", errors="replace")))
    except ValueError:
        fields = "unreadable"
    return (
        f"{path}:{row}: not UTF-8 text (byte 0x{raw[exc.start]:02x} at column {exc.start + 1}); "
        f"save the file as UTF-8 (fields present: {fields})"
    )


def _jsonl_rows(path: Path) -> Iterator[tuple[int, dict | str]]:
    with path.open("rb") as fh:
        yield from parse_lines(path, fh, lambda row, raw, exc: _undecodable(path, row, raw, exc))


def _utf8(path: Path) -> str:
    """The whole file as text; bytes that are not UTF-8 raise InputError naming the line."""
    data = path.read_bytes()
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise InputError(
            f"{path}:{line}: not UTF-8 text (byte 0x{data[exc.start]:02x}); save the file as "
            "UTF-8 (fields present: unreadable)"
        ) from None


def _json_rows(path: Path) -> Iterator[tuple[int, dict | str]]:
    text = _utf8(path)
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        if text.lstrip().startswith("{"):
            # `Dataset.to_json("x.json")` writes JSON Lines under a .json name by default.
            yield from _jsonl_rows(path)
            return
        raise InputError(f"{path}:{exc.lineno}: invalid JSON: {exc.msg}") from None
    if isinstance(data, dict) and isinstance(data.get("data"), list):
        data = data["data"]  # {"data": [...]}, as some exports wrap their rows
    elif isinstance(data, dict):
        data = [data]  # one JSON Lines row
    if not isinstance(data, list):
        raise InputError(
            f"{path}:1: expected a JSON list of objects, got {type(data).__name__} "
            f"(fields present: {_present(data)})"
        )
    for row, obj in enumerate(data, 1):
        if isinstance(obj, dict):
            yield row, obj
        else:
            yield row, f"{path}:{row}: expected a JSON object, got {type(obj).__name__}"


def _table_rows(path: Path, table) -> Iterator[tuple[int, dict | str]]:
    # Batches keep a million-row file from becoming a million dicts at once.
    row = 0
    for batch in table.to_batches(max_chunksize=10_000):
        for obj in batch.to_pylist():
            row += 1
            yield row, obj


def _parquet_rows(path: Path) -> Iterator[tuple[int, dict | str]]:
    import pyarrow.parquet as pq

    try:
        table = pq.read_table(path)
    except Exception as exc:  # pyarrow raises ArrowInvalid, OSError, ... for a broken file
        raise InputError(f"{path}:1: not a parquet file that opens: {exc}") from None
    yield from _table_rows(path, table)


def _csv_rows(path: Path) -> Iterator[tuple[int, dict | str]]:
    import pyarrow as pa
    import pyarrow.csv as pacsv

    _utf8(path)  # name the line of the first bad byte rather than pyarrow's block offset
    # Every column stays text: an answer "007" or "1/2" must not become a number.
    with path.open("rb") as fh:
        header = fh.readline().decode("utf-8-sig")
    names = next(csv.reader([header]), [])
    try:
        table = pacsv.read_csv(
            path,
            convert_options=pacsv.ConvertOptions(
                column_types={n: pa.string() for n in names}, strings_can_be_null=False
            ),
        )
    except pa.ArrowInvalid as exc:
        raise InputError(f"{path}:1: not a CSV file that parses: {exc}") from None
    yield from _table_rows(path, table)


def _saved_rows(path: Path) -> Iterator[tuple[int, dict | str]]:
    import datasets  # slow to import (~1 s): only when a saved dataset is read

    try:
        saved = datasets.load_from_disk(str(path))
    except Exception as exc:  # datasets raises FileNotFoundError, ArrowInvalid, ...
        raise InputError(f"{path}:1: not a dataset folder that opens: {exc}") from None
    # A DatasetDict: its splits one after another, in the order it lists them.
    parts = list(saved.values()) if isinstance(saved, datasets.DatasetDict) else [saved]
    row = 0
    for part in parts:
        for _, obj in _table_rows(path, part.data.table):
            row += 1
            yield row, obj


def read_rows(path: str | Path) -> Iterator[tuple[int, dict | str]]:
    """(row number, object) for each row of a problem file, or (row number, error line).

    A file that does not open at all (a broken parquet file, a CSV with undecodable bytes)
    raises InputError naming it; other formats report a bad row and go on.
    """
    path = Path(path)
    if is_saved_dataset(path):
        return _saved_rows(path)
    readers = {
        ".jsonl": _jsonl_rows,
        ".json": _json_rows,
        ".parquet": _parquet_rows,
        ".csv": _csv_rows,
    }
    reader = readers.get(path.suffix.lower())
    if reader is None:
        raise InputError(
            f"{path}: not a problem file; use .jsonl, .json, .parquet, .csv "
            "or a folder written by datasets' save_to_disk"
        )
    return reader(path)
