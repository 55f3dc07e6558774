"""Every name on disk: where a sample, its verdict, its validated copy and each state file live.

Nothing else spells a file name; change the layout here. The tree (ARCHITECTURE.md has the schemas):

    <out>/.watcher_stop  .status.json  .generation.json  report.json  run_signature.json
    <out>/report.html  commands.jsonl                         (the page; the commands that ran)
    <out>/.generator.log|.rc  .watcher.log|.rc  .merge.log|.rc  .launch.json  (the launcher's)
    <out>/contamination.jsonl  near_duplicates.jsonl  .near_duplicates.cache.json  (screening)
    <out>/merged/sft_math_all_<format>.jsonl  <source>_<format>.jsonl  dataset_info.json
    <out>/merged/README.md  *_<format>.parquet  (dataset card; --export parquet)
    <out>/<source>/failures.jsonl
    <out>/<source>/<type>/<p>_<s>.jsonl                 one sample per file
    <out>/<source>/<type>_verdicts.jsonl                the watcher's verdict log
    <out>/<source>/.<type>_verdicts.index               its checkpoint (big logs only)
    <out>/<source>/<type>_validated/<p>_<s>.jsonl       the correct samples

Usage:
    path = sample_path("sft_output", "2022_math", "multiples", 3, 1)  # .../multiples/3_1.jsonl
    verdicts, bad_lines = read_verdict_log(verdict_log(path.parent))
    copy = validated_dir(path.parent) / path.name
"""

from __future__ import annotations

import io
import json
import os
from collections.abc import Iterator
from pathlib import Path

import orjson

from sftkit.common.jsonl import InputError, parse_lines
from sftkit.inputs.problems import TYPES
from sftkit.watching import checkpoint
from sftkit.watching.index import SAMPLE_NAME as SAMPLE_NAME
from sftkit.watching.index import VerdictIndex, parse_name

MERGED_DIR = "merged"
ALL_NAME = "sft_math_all"  # merged/sft_math_all_<format>.jsonl and its dataset_info.json entry
VALIDATED_SUFFIX = "_validated"
VERDICTS_SUFFIX = "_verdicts.jsonl"
JUDGE_SUFFIX = "_judge.jsonl"  # <source>/<type>_judge.jsonl: the optional judge's verdicts
# SAMPLE_NAME, the one `<p>_<s>.jsonl` pattern, is sftkit.watching.index's (the compact index
# keys every sample by it); parse_sample_name() is its parser under this module's name.


# --- names ------------------------------------------------------------------------------------


def sample_name(p: int, s: int) -> str:
    """sample_name(3, 1) -> "3_1.jsonl"."""
    return f"{p}_{s}.jsonl"


def parse_sample_name(name: str) -> tuple[int, int] | None:
    """ "3_1.jsonl" -> (3, 1); any other name (".3_1.jsonl.x.tmp", "a.jsonl", "007_1.jsonl")
    -> None."""
    return parse_name(name)


def generation_id(source: str, type_: str, p: int, s: int) -> str:
    """generation_id("2022_math", "multiples", 3, 1) -> "2022_math/multiples/3_1"."""
    return f"{source}/{type_}/{p}_{s}"


def sample_identity(source: str, type_: str, name: str) -> dict:
    """The fields that name one stored sample in an audit line (merged/filtered.jsonl,
    judge_recovered.jsonl): ("s", "multiples", "3_1.jsonl") -> {"generation_id":
    "s/multiples/3_1", "source": "s", "type": "multiples", "problem_index": 3, "sample_index": 1}."""
    p, s = parse_name(name) or (None, None)
    return {
        "generation_id": f"{source}/{type_}/{name.removesuffix('.jsonl')}",
        "source": source,
        "type": type_,
        "problem_index": p,
        "sample_index": s,
    }


def parse_generation_id(text: str) -> tuple[str, int, int] | None:
    """(type, p, s) named by a generation id or a sample path: "src/multiples/3_1" ->
    ("multiples", 3, 1)."""
    *_, type_, name = ["", *text.split("/")]
    key = parse_name(name if name.endswith(".jsonl") else f"{name}.jsonl")
    return (type_, *key) if key and type_ else None


def type_dir(out: str | os.PathLike, source: str, type_: str) -> Path:
    """type_dir("sft_output", "2022_math", "multiples") -> sft_output/2022_math/multiples."""
    return Path(out) / source / type_


def sample_path(out: str | os.PathLike, source: str, type_: str, p: int, s: int) -> Path:
    return type_dir(out, source, type_) / sample_name(p, s)


def validated_dir(folder: str | os.PathLike) -> Path:
    """The copies of a type folder's correct samples: <source>/multiples -> <source>/multiples_validated."""
    folder = Path(folder)
    return folder.parent / f"{folder.name}{VALIDATED_SUFFIX}"


def verdict_log(folder: str | os.PathLike) -> Path:
    """A type folder's verdict log: <source>/multiples -> <source>/multiples_verdicts.jsonl."""
    folder = Path(folder)
    return folder.parent / f"{folder.name}{VERDICTS_SUFFIX}"


def index_checkpoint(log: str | os.PathLike) -> Path:
    """The watcher's checkpoint of a verdict log's index (sftkit.watching.checkpoint):
    <source>/multiples_verdicts.jsonl -> <source>/.multiples_verdicts.index."""
    log = Path(log)
    return log.parent / f".{log.name.removesuffix('.jsonl')}.index"


def failures_file(out: str | os.PathLike, source: str) -> Path:
    """<out>/<source>/failures.jsonl: the generator's open failures."""
    return Path(out) / source / "failures.jsonl"


def stop_file(out: str | os.PathLike) -> Path:
    """Touched when the generator ends; the watcher then scans once more and exits."""
    return Path(out) / ".watcher_stop"


def status_file(out: str | os.PathLike) -> Path:
    return Path(out) / ".status.json"


def generation_file(out: str | os.PathLike) -> Path:
    """The generator's sampling state, read by the report."""
    return Path(out) / ".generation.json"


def report_file(out: str | os.PathLike) -> Path:
    return Path(out) / "report.json"


def signature_file(out: str | os.PathLike) -> Path:
    return Path(out) / "run_signature.json"


def commands_file(out: str | os.PathLike) -> Path:
    """<out>/commands.jsonl: the command lines that wrote this folder (sftkit/output/commands.py)."""
    return Path(out) / "commands.jsonl"


def report_html_file(out: str | os.PathLike) -> Path:
    return Path(out) / "report.html"


def dataset_card_file(out: str | os.PathLike) -> Path:
    """merged/README.md: the Hugging Face dataset card of the merged files."""
    return merged_dir(out) / "README.md"


def merged_dir(out: str | os.PathLike) -> Path:
    return Path(out) / MERGED_DIR


def merged_file(out: str | os.PathLike, name: str, fmt: str) -> Path:
    """merged_file("sft_output", ALL_NAME, "messages") -> sft_output/merged/sft_math_all_messages.jsonl."""
    return merged_dir(out) / f"{name}_{fmt}.jsonl"


def dataset_info_file(out: str | os.PathLike) -> Path:
    return merged_dir(out) / "dataset_info.json"


def summary_file(out: str | os.PathLike) -> Path:
    """The launcher's report and summary as printed, for a user who detached: summary.txt."""
    return Path(out) / "summary.txt"


def step_log(out: str | os.PathLike, step: str) -> Path:
    """The launcher's output of one step: step_log("sft_output", "generator") -> .generator.log."""
    return Path(out) / f".{step}.log"


def launch_file(out: str | os.PathLike) -> Path:
    """The launcher's checked plan, read by the tmux panes: <out>/.launch.json."""
    return Path(out) / ".launch.json"


def step_rc(out: str | os.PathLike, step: str) -> Path:
    """The exit code of one launcher step: .generator.rc, .watcher.rc, .merge.rc."""
    return Path(out) / f".{step}.rc"


def validated_type(name: str) -> str | None:
    """The type whose copies a folder holds: "multiples_validated" -> "multiples", else None."""
    return name[: -len(VALIDATED_SUFFIX)] if name.endswith(VALIDATED_SUFFIX) else None


def verdict_log_type(name: str) -> str | None:
    """The type a verdict log grades: "multiples_verdicts.jsonl" -> "multiples", else None."""
    if name.startswith(".") or not name.endswith(VERDICTS_SUFFIX):
        return None
    return name[: -len(VERDICTS_SUFFIX)]


def is_output_dir(name: str) -> bool:
    """Folders that hold output, not samples: merged/ and every *_validated/."""
    return name == MERGED_DIR or name.endswith(VALIDATED_SUFFIX)


# The generator's screening lists in <output>/ (sftkit.generation.screen).
CONTAMINATION_NAME = "contamination.jsonl"
NEAR_DUP_NAME = "near_duplicates.jsonl"


def near_dup_cache(out: str | os.PathLike) -> Path:
    """The clusters of the last run's problems, kept for a rerun (sftkit.inputs.near_dup)."""
    return Path(out) / ".near_duplicates.cache.json"


def is_pipeline_log(name: str) -> bool:
    """Files beside the samples that are not samples: verdict and judge logs, failures.jsonl
    and the screening lists."""
    return name in ("failures.jsonl", CONTAMINATION_NAME, NEAR_DUP_NAME) or name.endswith(
        (VERDICTS_SUFFIX, JUDGE_SUFFIX)
    )


# --- listing ----------------------------------------------------------------------------------


def list_sources(out: str | os.PathLike) -> list[str]:
    """Sorted source folders: every visible subfolder except `merged/`."""
    if not os.path.isdir(out):
        return []
    return sorted(
        e.name
        for e in os.scandir(out)
        if e.is_dir() and e.name != MERGED_DIR and not e.name.startswith(".")
    )


def source_types(
    src_dir: str | os.PathLike, *, samples=False, validated=False, verdicts=False
) -> list[str]:
    """The types a source folder holds, in type_order: as sample folders (`multiples/`), as
    validated folders (`multiples_validated/`) and/or as verdict logs (`multiples_verdicts.jsonl`).

    source_types("out/2022_math", validated=True) -> ["subjectives", "multiples"]
    """
    found = set()
    if not os.path.isdir(src_dir):
        return []
    with os.scandir(src_dir) as it:
        for e in it:
            if e.name.startswith("."):
                continue  # temp and hidden entries are never output
            if e.is_dir():
                copies = validated_type(e.name)
                if copies and validated:
                    found.add(copies)
                elif not copies and samples:
                    found.add(e.name)
            elif verdicts and verdict_log_type(e.name):
                found.add(verdict_log_type(e.name))
    return sorted(found, key=type_order)


def type_order(name: str) -> tuple[int, str]:
    """Sort key: known types in pipeline order (subjectives, multiples), any other after them."""
    return (TYPES.index(name) if name in TYPES else len(TYPES), name)


def list_sample_files(folder: str | os.PathLike) -> tuple[list[tuple[int, int, str]], list[str]]:
    """(problem, sample, file name) sorted numerically, and names that are not `<p>_<s>.jsonl`.

    Temp files (`.0_0.jsonl.x.tmp`) and hidden files are ignored, never read.
    """
    found, odd = [], []
    if not os.path.isdir(folder):
        return found, odd
    for entry in os.scandir(folder):
        name = entry.name
        if name.startswith(".") or not name.endswith(".jsonl"):
            continue
        key = parse_name(name)
        if key:
            found.append((*key, name))
        else:
            odd.append(name)
    found.sort()
    return found, sorted(odd)


# --- reading ----------------------------------------------------------------------------------


class Incomplete(InputError):
    """A sample file that is not (yet) complete JSON lines; the watcher reads it again later."""


def read_sample(path: str | os.PathLike, lenient: bool = True) -> dict:
    """The record of a sample file (its first line), else Incomplete("file:line: why").

    b'{"answer": 3, ...}\n' -> {"answer": 3, ...};  b'' -> Incomplete("x:1: empty file").
    Every line must be a JSON object. `lenient=False` (the watcher, before its last try) also
    refuses a last line without its newline: the producer may still be writing it.
    """
    data = Path(path).read_bytes()
    if not data.strip():
        raise Incomplete(f"{path}:1: empty file")
    if not lenient and not data.endswith(b"\n"):
        raise Incomplete(f"{path}: last line has no newline yet")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise Incomplete(f"{path}: not UTF-8 ({exc.reason})") from None
    first = None
    # split("\n"), not splitlines(): a raw U+2028 inside a JSON string is no line break.
    for _, obj in parse_lines(path, text.split("\n")):
        if isinstance(obj, str):
            raise Incomplete(obj)
        first = first if first is not None else obj
    return first


class VerdictLog:
    """The latest verdict per sample file of one append-only verdict log, read incrementally.

    Entries are keyed by the file's base name ("0_0.jsonl"), whatever the line's `file` holds
    ("0_0.jsonl" as the watcher writes it, or a path): the last line per name wins. A line that is
    not a JSON object or names no file is counted in `bad` (line numbers). Each refresh() reads
    only what was appended since; a log replaced or truncated (watcher --rescan) is read again
    from the top. A half-written last line waits for the next refresh unless `final`.
    """

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        self.latest: dict[str, dict] = {}
        self.bad: list[int] = []
        self._pos = 0
        self._lines = 0
        self._inode: int | None = None

    def refresh(self, final: bool = False) -> dict[str, dict]:
        try:
            fh = open(self.path, "rb")
        except FileNotFoundError:
            return self.latest
        with fh:
            st = os.fstat(fh.fileno())
            if st.st_size < self._pos or st.st_ino != (self._inode or st.st_ino):
                self.latest, self.bad, self._pos, self._lines = {}, [], 0, 0
            self._inode = st.st_ino
            if st.st_size == self._pos:
                return self.latest
            fh.seek(self._pos)
            chunk = fh.read(st.st_size - self._pos)
        end = len(chunk) if final else chunk.rfind(b"\n") + 1
        # Cut at a newline, never inside a UTF-8 sequence; a bad byte must not hide the line.
        text = chunk[:end].decode("utf-8", errors="replace")
        # split("\n"), not splitlines(): a raw U+2028 inside a JSON string is no line break.
        lines = text.split("\n")
        if lines and not lines[-1]:
            lines.pop()
        for lineno, obj in parse_lines(self.path, lines):
            name = obj.get("file") if isinstance(obj, dict) else None
            if isinstance(name, str):
                self.latest[name.rsplit("/", 1)[-1]] = obj
            else:
                self.bad.append(self._lines + lineno)
        self._lines += len(lines)
        self._pos += end
        return self.latest


def verdict_lines(
    path: str | os.PathLike, fast: bool = False, start: int = 0, first_line: int = 1
) -> Iterator[tuple[int, dict | None]]:
    """(line number, verdict line) of a verdict log in file order, streaming: (line number, None)
    for a line that is not a JSON object naming a file. A missing log is empty. `fast`: parsed
    by orjson, in a third of json's time, for readers of the index's fields only (orjson reads
    an integer beyond 64 bits as a float: a ground_truth may lose digits). `start`: a byte
    offset where a line begins (after a checkpoint), whose line number is `first_line`."""
    try:
        raw = open(path, "rb")
    except FileNotFoundError:
        return
    raw.seek(start)
    # newline="\n": split at "\n" only, as VerdictLog does (a raw U+2028 is no line break).
    fh = io.TextIOWrapper(raw, encoding="utf-8", errors="replace", newline="\n")
    # Not parse_lines(): this runs a million times at a watcher's start. What orjson refuses
    # (NaN, say) json still reads.
    loads = orjson.loads if fast else json.loads
    with fh:
        for lineno, text in enumerate(fh, first_line):
            try:
                obj = loads(text)
            except ValueError:
                try:
                    obj = json.loads(text)
                except ValueError:
                    if text.strip():
                        yield lineno, None
                    continue
            ok = type(obj) is dict and isinstance(obj.get("file"), str)
            yield lineno, obj if ok else None


def read_verdict_index(path: str | os.PathLike) -> tuple[VerdictIndex, list[int]]:
    """The latest verdict per sample file of a verdict log in a compact VerdictIndex (about 40
    bytes a sample; none marked live yet), and the numbers of its unreadable lines. For logs too
    big to hold as dicts: the watcher's start-up, the report, the gold audit. The watcher's
    checkpoint of the log, where one holds, saves parsing all but the lines logged after it."""
    index, offset = checkpoint.restore(Path(path), index_checkpoint(path)) or (VerdictIndex(), 0)
    bad: list[int] = []
    lines = index.log_lines

    def readable():
        nonlocal lines
        for lineno, line in verdict_lines(path, True, offset, index.log_lines + 1):
            lines = lineno
            if line is None:
                bad.append(lineno)
            else:
                yield line

    index.load(readable())
    index.log_lines = lines
    return index, bad


def read_verdict_log(path: str | os.PathLike) -> tuple[dict[str, dict], list[int]]:
    """Latest verdict per sample file name (see VerdictLog) and the numbers of the lines that
    are unreadable or name no file; a missing log is empty."""
    log = VerdictLog(path)
    log.refresh(final=True)
    return log.latest, sorted(log.bad)


def validated_record(record: dict, verdict: dict) -> dict:
    """What a `_validated/` copy holds: the sample plus meta.verdict and meta.extracted_answer.

    ({"meta": {"model": "m"}, ...}, {"reason": "match_exact", "extracted_answer": "3"}) ->
    {"meta": {"model": "m", "verdict": "match_exact", "extracted_answer": "3"}, ...}
    """
    meta = record.get("meta") if isinstance(record.get("meta"), dict) else {}
    meta = {**meta, "verdict": verdict["reason"], "extracted_answer": verdict["extracted_answer"]}
    return {**record, "meta": meta}
