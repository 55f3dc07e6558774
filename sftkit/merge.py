r"""Merge validated samples into training files, write LLaMA-Factory's dataset_info.json, and
report per source x type how generation and grading went.

Pipeline order: merge_outputs() -> build_report() -> write_report() -> format_report().

Usage:
    stats = merge_outputs("sft_output", "messages", "think_tags", system=None)
    # sft_output/merged/sft_math_all_messages.jsonl, merged/<source>_messages.jsonl,
    # merged/dataset_info.json  ->  LLaMA-Factory `dataset: sft_math_all`
    report = write_report("sft_output")          # also writes sft_output/report.json
    print(format_report(report))

Only `<source>/<type>_validated/<p>_<s>.jsonl` files are merged (a source is any folder of the
output other than `merged/`); temp files (`.x.tmp`) are never read. Order is (source, type, problem,
sample) with numeric indices, so problem 10 follows problem 2.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import time
from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from itertools import zip_longest
from pathlib import Path

from sftkit.formats import FORMATS, REASONING_MODES, add_answer_meta, parse, render, with_system
from sftkit.jsonl import (
    InputError,
    atomic_open,
    atomic_write_text,
    dumps,
    read_jsonl,
    read_log,
    read_verdict_log,
    verdict_is_stale,
)
from sftkit.problems import TYPES
from sftkit.signature import SIGNATURE_FILE, read_signatures

MERGED_DIR = "merged"
ALL_NAME = "sft_math_all"
VALIDATED_SUFFIX = "_validated"
VERDICTS_SUFFIX = "_verdicts.jsonl"
FAILURES_FILE = "failures.jsonl"  # <source>/failures.jsonl: the generator's open failures
STATE_FILE = ".generation.json"  # written by the generator, read by the report
SAMPLE_NAME = re.compile(r"(\d+)_(\d+)\.jsonl")  # <p>_<s>.jsonl (fullmatch)
_GENERATION_ID = re.compile(r"(?:^|/)([^/]+)/(\d+)_(\d+)(?:\.jsonl)?$")


# --- layout -------------------------------------------------------------------------------


def list_sources(output_dir: Path) -> list[str]:
    """Sorted source folders: every visible subfolder except `merged/`."""
    if not output_dir.is_dir():
        return []
    return sorted(
        e.name
        for e in os.scandir(output_dir)
        if e.is_dir() and e.name != MERGED_DIR and not e.name.startswith(".")
    )


def _type_key(name: str) -> tuple[int, str]:
    # Known types in pipeline order (subjectives, multiples), any other after them by name.
    return (TYPES.index(name) if name in TYPES else len(TYPES), name)


def list_sample_files(folder: Path) -> tuple[list[tuple[int, int, str]], list[str]]:
    """(problem, sample, file name) sorted numerically, and names that are not `<p>_<s>.jsonl`.

    Temp files (`.0_0.jsonl.x.tmp`) and hidden files are ignored, never read.
    """
    found, odd = [], []
    if not folder.is_dir():
        return found, odd
    for entry in os.scandir(folder):
        name = entry.name
        if name.startswith(".") or not name.endswith(".jsonl"):
            continue
        m = SAMPLE_NAME.fullmatch(name)
        if m:
            found.append((int(m.group(1)), int(m.group(2)), name))
        else:
            odd.append(name)
    found.sort()
    return found, sorted(odd)


def read_verdicts(path: Path) -> tuple[dict[str, dict], int]:
    """Last verdict per sample file name, and the number of unreadable lines skipped."""
    verdicts, bad = read_verdict_log(path)
    return verdicts, len(bad)


def read_sample(path: str | os.PathLike) -> dict:
    """The one record of a sample file; InputError naming the file (and line) otherwise."""
    for _, obj in read_jsonl(path):
        return obj
    raise InputError(f"{path}:1: empty sample file")


def _problem(path, exc: Exception) -> str:
    """Why a file was skipped; InputError already reads "out/s/t/1_0.jsonl:1: invalid JSON"."""
    return str(exc) if isinstance(exc, InputError) else f"{path}: {exc}"


# --- merge --------------------------------------------------------------------------------


@dataclass(frozen=True)
class MergeStats:
    fmt: str
    reasoning_mode: str
    files_read: int = 0
    written: int = 0
    duplicates: int = 0
    by_source: dict[str, int] = field(default_factory=dict)  # records written per source
    bad_files: tuple[str, ...] = ()  # "path: reason", skipped
    outputs: tuple[str, ...] = ()  # paths written, dataset_info.json (when written) last

    def __str__(self) -> str:
        """For the log: '9 records from 10 validated files (1 duplicates dropped, ...) -> path'."""
        text = (
            f"{self.written} records from {self.files_read} validated files "
            f"({self.duplicates} duplicates dropped, {len(self.bad_files)} bad files skipped)"
        )
        if self.outputs:
            text += f" -> {self.outputs[0]}"
        for bad in self.bad_files[:5]:
            text += f"\n  skipped {bad}"
        if len(self.bad_files) > 5:
            text += f"\n  ... and {len(self.bad_files) - 5} more"
        return text


def _training_record(record: dict, fmt: str, mode: str, system: str | None, verdict: dict | None):
    """Re-render one stored record into `fmt`; returns (record, dedup key) or raises ValueError."""
    conv = parse(record)
    if conv is None:
        raise ValueError("no assistant turn in a known format")
    conv = with_system(conv, system)
    rendered = render(conv, fmt, mode)
    # Two samples are duplicates when a trainer would see the same example: same prompt, same
    # system, same assistant text (reasoning included unless dropped). A digest keeps the seen-set
    # small while records stream to disk.
    kept = conv.reasoning if mode != "drop" else None
    parts = (conv.prompt, conv.system or "", kept or "", conv.content)
    key = hashlib.blake2b("\x1f".join(parts).encode("utf-8"), digest_size=16).digest()
    meta = dict(record["meta"]) if isinstance(record.get("meta"), dict) else {}
    meta["format"], meta["reasoning_mode"] = fmt, mode
    if mode != "drop":
        # Already in the training text; a second copy would double the file size.
        meta.pop("reasoning", None)
    if verdict is not None:
        meta.setdefault("verdict", verdict.get("reason"))
        meta.setdefault("extracted_answer", verdict.get("extracted_answer"))
    # Golds are ints (choice numbers) and strings mixed in one file; `datasets` infers one column
    # type per file and refuses mixed ones, so these are always text in merged files: 3 -> "3".
    for key_ in ("problem_id", "extracted_answer"):
        if meta.get(key_) is not None:
            meta[key_] = str(meta[key_])
    answer = record.get("answer")
    answer = None if answer is None else str(answer)
    return add_answer_meta(rendered, fmt, answer, meta), key


def llamafactory_entry(file_name: str, fmt: str, has_system: bool) -> dict | None:
    """One dataset_info.json entry that loads `file_name` exactly as merge_outputs wrote it, or
    None for prompt_completion: LLaMA-Factory reads a conversation from one column, not two.

    llamafactory_entry("sft_math_all_messages.jsonl", "messages", False) -> {"file_name": ...,
      "formatting": "sharegpt", "columns": {"messages": "messages"}, "tags": {"role_tag": "role",
      "content_tag": "content", "user_tag": "user", "assistant_tag": "assistant", ...}}
    """
    if fmt == "messages":
        tags = {"role_tag": "role", "content_tag": "content", "user_tag": "user"}
        tags |= {"assistant_tag": "assistant", "system_tag": "system"}
        return {
            "file_name": file_name,
            "formatting": "sharegpt",
            "columns": {"messages": "messages"},
            "tags": tags,
        }
    if fmt == "sharegpt":
        tags = {"role_tag": "from", "content_tag": "value", "user_tag": "human"}
        tags |= {"assistant_tag": "gpt", "system_tag": "system"}
        columns = {"messages": "conversations"} | ({"system": "system"} if has_system else {})
        return {"file_name": file_name, "formatting": "sharegpt", "columns": columns, "tags": tags}
    if fmt == "prompt_completion":
        return None
    if fmt == "alpaca":
        columns = {"prompt": "instruction", "query": "input", "response": "output"}
        columns |= {"system": "system"} if has_system else {}
        return {"file_name": file_name, "formatting": "alpaca", "columns": columns}
    return {
        "file_name": file_name,
        "formatting": "alpaca",
        "columns": {"prompt": "problem", "response": "solution"},
    }


def _validated_records(
    src_dir: Path,
    type_: str,
    fmt: str,
    mode: str,
    system: str | None,
    bad: list[str],
    planned: int | None = None,
) -> Iterator[tuple[dict | None, bytes | None]]:
    """(training record, dedup key) per validated file of one source x type, in numeric order;
    (None, None) for a file that cannot be used (or a stray one, beyond the `planned` problems),
    whose reason is appended to `bad`."""
    folder = src_dir / f"{type_}{VALIDATED_SUFFIX}"
    files, odd = list_sample_files(folder)
    bad.extend(f"{folder / n}: not a <problem>_<sample>.jsonl name" for n in odd)
    verdicts = None  # the watcher's copies carry meta.verdict: read the log only if one does not
    for p, _, name in files:
        path = os.path.join(folder, name)
        if planned is not None and p >= planned:
            bad.append(stray_warning(path, p, planned))
            yield None, None
            continue
        try:
            record = read_sample(path)
            meta, verdict = record.get("meta"), None
            if not (isinstance(meta, dict) and "verdict" in meta):
                if verdicts is None:
                    verdicts, _ = read_verdicts(src_dir / f"{type_}{VERDICTS_SUFFIX}")
                verdict = verdicts.get(name)
            result = _training_record(record, fmt, mode, system, verdict)
        except (OSError, UnicodeDecodeError, ValueError) as exc:  # InputError is a ValueError
            bad.append(_problem(path, exc))
            result = (None, None)
        yield result


def merge_outputs(
    output_dir: str | os.PathLike,
    fmt: str,
    reasoning_mode: str = "think_tags",
    system: str | None = None,
) -> MergeStats:
    """Merge every validated sample into `merged/` (all sources + one file per source).

    Records stream to temp files (a run can hold gigabytes of reasoning), renamed when complete.
    A bad or unreadable validated file is listed in `bad_files` and skipped; nothing crashes.
    """
    if fmt not in FORMATS:
        raise ValueError(f"unknown format {fmt!r}; choose one of {', '.join(FORMATS)}")
    if reasoning_mode not in REASONING_MODES:
        raise ValueError(f"unknown reasoning mode {reasoning_mode!r}")
    out = Path(output_dir)
    merged_dir = out / MERGED_DIR
    all_name = f"{ALL_NAME}_{fmt}.jsonl"
    seen: set[bytes] = set()
    bad: list[str] = []
    by_source: dict[str, int] = {}
    info: dict[str, dict | None] = {}
    files_read = duplicates = 0
    # Declare a system column only when every record has one: a column missing from some
    # records loads as null and LLaMA-Factory would pass None as the system prompt.
    all_system = True
    by_key = (read_generation(out)[0] or {}).get("by_source_type")
    by_key = by_key if isinstance(by_key, dict) else {}
    with atomic_open(merged_dir / all_name) as all_fh:
        for source in list_sources(out):
            src_dir = out / source
            types = sorted(
                (
                    e.name[: -len(VALIDATED_SUFFIX)]
                    for e in os.scandir(src_dir)
                    if e.is_dir() and e.name.endswith(VALIDATED_SUFFIX)
                ),
                key=_type_key,
            )
            source_path = merged_dir / f"{source}_{fmt}.jsonl"
            if not types:
                source_path.unlink(missing_ok=True)  # a stale file from an earlier merge
                continue
            count, source_system = 0, True
            with atomic_open(source_path) as fh:
                for type_ in types:
                    planned = planned_problems(by_key.get(f"{source}/{type_}"))
                    found = _validated_records(
                        src_dir, type_, fmt, reasoning_mode, system, bad, planned
                    )
                    for rec, key in found:
                        files_read += 1
                        if rec is None:
                            continue
                        if key in seen:
                            duplicates += 1
                            continue
                        seen.add(key)
                        line = dumps(rec) + "\n"
                        fh.write(line)
                        all_fh.write(line)
                        count += 1
                        source_system = source_system and bool(rec.get("system"))
            if count:
                by_source[source] = count
                info[source] = llamafactory_entry(source_path.name, fmt, source_system)
                all_system = all_system and source_system
            else:
                # No validated record (left): no file, rather than a stale or empty one.
                source_path.unlink()
    written = sum(by_source.values())
    outputs = [str(merged_dir / all_name)]
    outputs += [str(merged_dir / f"{s}_{fmt}.jsonl") for s in by_source]
    info_path = merged_dir / "dataset_info.json"
    entry = llamafactory_entry(all_name, fmt, written > 0 and all_system)
    if entry is None:
        # A format LLaMA-Factory cannot read: an older dataset_info.json would describe files of
        # an earlier merge as if they were this one.
        info_path.unlink(missing_ok=True)
    else:
        info = {ALL_NAME: entry, **info}
        atomic_write_text(info_path, json.dumps(info, ensure_ascii=False, indent=2) + "\n")
        outputs.append(str(info_path))
    return MergeStats(
        fmt=fmt,
        reasoning_mode=reasoning_mode,
        files_read=files_read,
        written=written,
        duplicates=duplicates,
        by_source=by_source,
        bad_files=tuple(bad),
        outputs=tuple(outputs),
    )


# --- report -------------------------------------------------------------------------------

_COUNTS = (
    "problems",
    "samples",
    "graded",
    "ungraded",
    "correct",
    "problems_with_correct",
    "problems_zero_correct",
    "problems_ungraded",
    "failures",
    "truncations",
    "with_reasoning",  # samples whose reply carried reasoning (meta.reasoning)
    "prompt_tokens",
    "completion_tokens",
    "unreadable",
    "stray",
)
# Per-(source, type) counters the generator keeps in .generation.json "by_source_type".
GENERATION_COUNTERS = (
    "planned",
    "skipped_existing",
    "skipped_k_correct",
    "retry_samples",
    "written",
    "failed",
)


def _failure_keys(obj: dict) -> tuple[str | None, list[tuple[int, int]]]:
    """(type, [(problem, sample), ...]) named by one failures.jsonl line, as far as it says.

    {"type": "multiples", "problem_index": 3, "sample_index": 1} -> ("multiples", [(3, 1)])
    {"generation_id": "s/multiples/3_1"} -> ("multiples", [(3, 1)])
    """
    type_ = obj.get("type") if isinstance(obj.get("type"), str) else None
    p = obj.get("problem_index")
    samples = obj.get("sample_indices")
    if not isinstance(samples, list):
        samples = [obj.get("sample_index")]
    if isinstance(p, int) and all(isinstance(s, int) for s in samples) and samples:
        return type_, [(p, s) for s in samples]
    for key in ("generation_id", "file", "path"):
        m = _GENERATION_ID.search(str(obj.get(key) or ""))
        if m:
            return m.group(1), [(int(m.group(2)), int(m.group(3)))]
    return type_, []


def read_failures(path: Path) -> tuple[dict[str, set], dict[str, int], int]:
    """Failed samples per type, unidentifiable failure lines per type, and bad lines."""
    failed: dict[str, set] = defaultdict(set)
    vague: dict[str, int] = defaultdict(int)
    records, bad = read_log(path)
    for _, obj in records:
        type_, keys = _failure_keys(obj)
        if keys and type_:
            failed[type_].update(keys)
        else:
            vague[type_ or "?"] += 1
    return failed, vague, len(bad)


def read_generation(output_dir: Path) -> tuple[dict | None, str | None]:
    """The generator's sampling state `.generation.json`, or (None, problem) if absent or bad."""
    path = output_dir / STATE_FILE
    if not path.is_file():
        return None, None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        return None, f"{path}: {exc}"
    if not isinstance(data, dict):
        return None, f"{path}: expected a JSON object"
    return data, None


def _ratio(num: float, den: float) -> float | None:
    return round(num / den, 6) if den else None


def planned_problems(gen: dict | None) -> int | None:
    """How many problems the generator planned for a source x type (its `by_source_type` entry
    in .generation.json), or None if unknown. {"problems": 33, ...} -> 33"""
    planned = gen.get("problems") if isinstance(gen, dict) else None
    return planned if isinstance(planned, int) and not isinstance(planned, bool) else None


def stray_warning(path: Path | str, p: int, planned: int) -> str:
    """Why a sample file is left out: "out/s/t/999_0.jsonl: stray: no problem 999 in the plan
    (33 problems)"."""
    return f"{path}: stray: no problem {p} in the plan ({planned} problems)"


def _type_report(src_dir: Path, source: str, type_: str, failed: set, vague: int, gen: dict | None):
    """One report row for source x type, its zero-correct problems, and warnings.

    Each sample file is read once for its meta (truncation, tokens, problem id). A file whose
    problem index is beyond the generator's plan (`999_0.jsonl` in a 33-problem source) is
    counted as `stray`, listed in the warnings and left out of every other figure. A verdict whose
    file changed since it was graded does not count: the sample is `ungraded` until regraded.
    """
    planned = planned_problems(gen)
    folder = str(src_dir / type_)
    files, odd = list_sample_files(src_dir / type_)
    verdicts, bad_lines = read_verdicts(src_dir / f"{type_}{VERDICTS_SUFFIX}")
    warnings = [f"{src_dir / type_ / n}: not a <problem>_<sample>.jsonl name" for n in odd]
    if bad_lines:
        warnings.append(f"{src_dir / (type_ + VERDICTS_SUFFIX)}: {bad_lines} unreadable lines")
    row = dict.fromkeys(_COUNTS, 0)
    per_problem: dict[int, list[int]] = {}  # problem -> [samples, graded, correct]
    problem_ids: dict[int, str] = {}
    stored = set()
    for p, s, name in files:
        path = os.path.join(folder, name)
        if planned is not None and p >= planned:
            row["stray"] += 1
            warnings.append(stray_warning(path, p, planned))
            continue
        stored.add((p, s))
        counts = per_problem.setdefault(p, [0, 0, 0])
        counts[0] += 1
        verdict = verdicts.get(name)
        if verdict is not None:
            try:
                if verdict_is_stale(verdict, os.stat(path)):
                    verdict = None
            except OSError:
                pass  # gone since listed: reading it below says so
        if verdict is not None:
            counts[1] += 1
            counts[2] += verdict.get("is_correct") is True
        try:
            meta = read_sample(path).get("meta") or {}
        except (OSError, UnicodeDecodeError, ValueError) as exc:
            row["unreadable"] += 1
            warnings.append(_problem(src_dir / type_ / name, exc))
            continue
        if not isinstance(meta, dict):
            continue
        if meta.get("problem_id") is not None:
            problem_ids.setdefault(p, str(meta["problem_id"]))
        row["truncations"] += bool(meta.get("truncated")) or meta.get("finish_reason") == "length"
        row["with_reasoning"] += isinstance(meta.get("reasoning"), str) and bool(meta["reasoning"])
        usage = meta.get("usage") if isinstance(meta.get("usage"), dict) else {}
        for key in ("prompt_tokens", "completion_tokens"):
            if isinstance(usage.get(key), int):
                row[key] += usage[key]
    zero = []
    for p, (samples, graded, correct) in per_problem.items():
        row["samples"] += samples
        row["graded"] += graded
        row["correct"] += correct
        if correct:
            row["problems_with_correct"] += 1
        elif graded:
            row["problems_zero_correct"] += 1
            zero.append(
                {
                    "source": source,
                    "type": type_,
                    "problem_index": p,
                    "problem_id": problem_ids.get(p),
                    "samples": samples,
                    "graded": graded,
                }
            )
        else:
            row["problems_ungraded"] += 1
    row["problems"] = len(per_problem)
    row["ungraded"] = row["samples"] - row["graded"]
    # A sample that failed once but was stored by a later run is not a failure any more.
    row["failures"] = len(failed - stored) + vague
    return {"source": source, "type": type_, **row, "generation": gen}, zero, warnings


def _finish(row: dict) -> dict:
    row["accuracy"] = _ratio(row["correct"], row["graded"])
    row["mean_correct_per_problem"] = _ratio(row["correct"], row["problems"])
    return row


def build_report(
    output_dir: str | os.PathLike, gold_min_samples: int = 4, gold_share: float = 0.75
) -> dict:
    """Per source x type figures from the sample files, verdict logs, failures and generation state.

    Accuracy is correct / graded; samples without a verdict count as `ungraded`. A problem with
    graded samples and none correct is listed in `zero_correct`; one whose samples agree on an
    answer the grader rejected (at least `gold_min_samples` of them and `gold_share` of the graded)
    in `suspicious_golds` (see sftkit.gold_audit).
    """
    from sftkit.gold_audit import audit_output  # it builds on this module's layout helpers

    out = Path(output_dir)
    generation, gen_problem = read_generation(out)
    by_key = (generation or {}).get("by_source_type")
    by_key = by_key if isinstance(by_key, dict) else {}
    rows, zero, warnings = [], [], [gen_problem] if gen_problem else []
    try:
        held = read_signatures(out)
    except InputError as exc:
        held = None
        warnings.append(str(exc))
    for source in list_sources(out):
        src_dir = out / source
        failed, vague, bad_failures = read_failures(src_dir / FAILURES_FILE)
        if bad_failures:
            warnings.append(f"{src_dir / FAILURES_FILE}: {bad_failures} unreadable lines")
        types = (
            set(failed)
            | set(vague)
            | {k.split("/", 1)[1] for k in by_key if k.startswith(f"{source}/")}
        )
        for e in os.scandir(src_dir):
            if e.name.startswith("."):
                continue
            if e.is_dir() and not e.name.endswith(VALIDATED_SUFFIX):
                types.add(e.name)
            elif e.is_file() and e.name.endswith(VERDICTS_SUFFIX):
                types.add(e.name[: -len(VERDICTS_SUFFIX)])
        for type_ in sorted(types, key=_type_key):
            gen = by_key.get(f"{source}/{type_}")
            row, row_zero, row_warn = _type_report(
                src_dir, source, type_, failed.get(type_, set()), vague.get(type_, 0), gen
            )
            rows.append(_finish(row))
            zero.extend(row_zero)
            warnings.extend(row_warn)
    totals = _finish({k: sum(r[k] for r in rows) for k in _COUNTS})
    if generation is not None:
        summary = {k: v for k, v in generation.items() if k != "by_source_type"}
        summary["totals"] = {
            k: sum(v.get(k) or 0 for v in by_key.values() if isinstance(v, dict))
            for k in GENERATION_COUNTERS
        }
        generation = summary
    return {
        "output_dir": str(out),
        "created": time.time(),
        # Samples of more than one model / sampling settings (the generator's --allow_mixed).
        "mixed": bool(held and held.get("mixed")),
        "signatures": held["signatures"] if held else [],
        "rows": rows,
        "totals": totals,
        "zero_correct": zero,
        "suspicious_golds": audit_output(out, gold_min_samples, gold_share),
        "generation": generation,
        "warnings": warnings,
    }


def write_report(
    output_dir: str | os.PathLike, gold_min_samples: int = 4, gold_share: float = 0.75
) -> dict:
    """build_report() and write it atomically to `<output>/report.json`."""
    report = build_report(output_dir, gold_min_samples, gold_share)
    text = json.dumps(report, ensure_ascii=False, indent=2) + "\n"
    atomic_write_text(Path(output_dir) / "report.json", text)
    return report


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.1f}%"


def text_table(
    head: Sequence[str], body: Iterable[Sequence], total: Sequence, sep: str = " ", min_widths=()
) -> list[str]:
    """Lines of a plain table: the first two columns (names) left-aligned, the rest right-aligned,
    a rule under the header and above the total. Used by the report and the watcher.

    text_table(("type", "n"), [("multiples", 3)], ("TOTAL", 3)) ->
    ["type      n", "-----------", "multiples 3", "-----------", "TOTAL     3"]
    """
    cells = [[str(c) for c in row] for row in (head, *body, total)]
    widths = [max(len(r[i]) for r in cells) for i in range(len(head))]
    widths = [max(w, m) for w, m in zip_longest(widths, min_widths, fillvalue=0)]

    def pad(i: int, cell: str) -> str:
        return cell.ljust(widths[i]) if i < 2 else cell.rjust(widths[i])

    lines = [sep.join(pad(i, c) for i, c in enumerate(row)) for row in cells]
    rule = "-" * len(lines[0])
    return [lines[0], rule, *lines[1:-1], rule, lines[-1]]


REPORT_WIDTH = 100  # a tmux half-pane (the launcher gives each pane about 110 columns)
SOURCE_WIDTH = 18  # longer source names are shortened in the table (report.json has them whole)


def _short(name: str, width: int = SOURCE_WIDTH) -> str:
    """A table cell of at most width characters: _short("2024_csat_math_even_odd", 12) ->
    "2024_csat_m~"."""
    return name if len(name) <= width else name[: width - 1] + "~"


def format_report(report: dict, max_listed: int = 30) -> str:
    """The printed report: one row per source x type, a total, token counts, zero-correct
    problems and sampling; every line fits REPORT_WIDTH columns (README explains the columns)."""
    head = (
        "source", "type", "probs", "samples", "correct", "acc", ">=1", "zero", "mean",
        "ungraded", "fail", "trunc",
    )  # fmt: skip

    def cells(row: dict, source: str, type_: str) -> tuple:
        mean = row["mean_correct_per_problem"]
        return (
            _short(source), type_, row["problems"], row["samples"], row["correct"],
            _pct(row["accuracy"]), row["problems_with_correct"], row["problems_zero_correct"],
            "-" if mean is None else f"{mean:.2f}", row["ungraded"], row["failures"],
            row["truncations"],
        )  # fmt: skip

    totals = report["totals"]
    lines = text_table(
        head,
        [cells(r, r["source"], r["type"]) for r in report["rows"]],
        cells(totals, "TOTAL", ""),
    )
    lines.append(
        f"Tokens: prompt {totals['prompt_tokens']:,}, completion {totals['completion_tokens']:,}"
    )
    totals = report["totals"]
    lines.append(f"Samples with reasoning: {totals['with_reasoning']} of {totals['samples']}")
    zero = report["zero_correct"]
    lines.append(f"Problems with zero correct: {len(zero)}")
    for z in zero[:max_listed]:
        pid = f" (id {z['problem_id']})" if z.get("problem_id") is not None else ""
        lines.append(
            f"  {z['source']}/{z['type']} problem {z['problem_index']}{pid}: "
            f"0 of {z['graded']} graded"
        )
    if len(zero) > max_listed:
        lines.append(f"  ... and {len(zero) - max_listed} more (see report.json)")
    gen = report.get("generation")
    if gen:
        t = gen.get("totals", {})
        k, r = gen.get("k_correct"), gen.get("retry_zero")
        k_text = (
            f"k_correct {k} ({t.get('skipped_k_correct', 0)} samples skipped)"
            if k
            else "k_correct off"
        )
        r_text = (
            f"retry_zero {r} ({gen.get('rounds_done')} rounds done, "
            f"{t.get('retry_samples', 0)} retry samples)"
            if r
            else "retry_zero off"
        )
        lines.append(f"Sampling: model {gen.get('model')}, n {gen.get('n')}")
        lines.append(f"  {k_text}, {r_text}")
        lines.append(
            f"  planned {t.get('planned', 0)}, written {t.get('written', 0)}, "
            f"failed {t.get('failed', 0)}"
        )
        for r in report["rows"]:
            g = r.get("generation")
            if isinstance(g, dict) and (g.get("skipped_k_correct") or g.get("retry_samples")):
                lines.append(
                    f"  {r['source']}/{r['type']}: {g.get('skipped_k_correct') or 0} skipped by "
                    f"k_correct, {g.get('retry_samples') or 0} retry samples"
                )
    if report.get("mixed"):
        lines.append(
            f"Mixed folder: samples of {len(report['signatures'])} runs (models or sampling "
            f"settings differ; see {SIGNATURE_FILE})"
        )
    stray = report["totals"].get("stray")
    if stray:
        lines.append(f"Stray files: {stray} (no planned problem; not counted, not merged)")
    if report.get("warnings"):
        lines.append(f"Warnings: {len(report['warnings'])} (see report.json)")
    lines.extend(_suspicious_lines(report.get("suspicious_golds") or [], max_listed))
    return "\n".join(lines)


def _suspicious_lines(flagged: list[dict], max_listed: int) -> list[str]:
    """The suspicious-golds block under the table; nothing when none is flagged."""
    if not flagged:
        return []
    lines = [f"Suspicious golds (samples agree on another answer): {len(flagged)}"]

    def clip(value) -> str:
        text = str(value)
        return text if len(text) <= 30 else text[:27] + "..."

    for f in flagged[:max_listed]:
        pid = f" (id {f['problem_id']})" if f.get("problem_id") is not None else ""
        lines.append(
            f"  {f['source']}/{f['type']} problem {f['problem_index']}{pid}: gold "
            f"{clip(f['gold'])}, {f['majority_count']} of {f['graded']} graded say "
            f"{clip(f['majority_answer'])}"
        )
    if len(flagged) > max_listed:
        lines.append(f"  ... and {len(flagged) - max_listed} more (see report.json)")
    return lines
