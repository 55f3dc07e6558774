r"""Merge validated samples into training files and write LLaMA-Factory's dataset_info.json.

Pipeline order: merge_outputs() (the figures are sftkit/output/report.py's).

Usage:
    stats = merge_outputs("sft_output", "messages", "think_tags", system=None)
    # sft_output/merged/sft_math_all_messages.jsonl, merged/<source>_messages.jsonl,
    # merged/dataset_info.json  ->  LLaMA-Factory `dataset: sft_math_all`

Only `<source>/<type>_validated/<p>_<s>.jsonl` files are merged (a source is any folder of the
output other than `merged/`; names are sftkit/output/layout.py's); temp files (`.x.tmp`) are never read.
Order is (source, type, problem, sample) with numeric indices, so problem 10 follows problem 2.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from itertools import chain
from pathlib import Path

from sftkit.common.jsonl import (
    InputError,
    atomic_open,
    atomic_write_jsonl,
    atomic_write_text,
    dumps,
)
from sftkit.generation.state import planned_problems, read_state
from sftkit.output import layout
from sftkit.output.formats import (
    FORMATS,
    REASONING_MODES,
    add_answer_meta,
    parse,
    render,
    with_system,
)
from sftkit.output.judging import RECOVERED_NAME, judge_recovered, recovered_line
from sftkit.output.layout import ALL_NAME
from sftkit.output.selection import (
    DEFAULT_SELECTION,
    Selection,
    Tally,
    audit_file,
    audit_line,
    difficulty_meta,
    pass_rates,
    write_summary,
)


def skip_reason(path, exc: Exception) -> str:
    """Why a file was skipped; InputError already reads "out/s/t/1_0.jsonl:1: invalid JSON"."""
    return str(exc) if isinstance(exc, InputError) else f"{path}: {exc}"


# --- the generator's plan -----------------------------------------------------------------


def stray_warning(path: Path | str, p: int, planned: int) -> str:
    """Why a sample file is left out: "out/s/t/999_0.jsonl: stray: no problem 999 in the plan
    (33 problems)"."""
    return f"{path}: stray: no problem {p} in the plan ({planned} problems)"


# --- merge --------------------------------------------------------------------------------


@dataclass(frozen=True)
class MergeStats:
    fmt: str
    reasoning_mode: str
    files_read: int = 0
    written: int = 0
    duplicates: int = 0
    filtered: dict[str, int] = field(default_factory=dict)  # drop reason -> samples
    by_source: dict[str, int] = field(default_factory=dict)  # records written per source
    bad_files: tuple[str, ...] = ()  # "path: reason", skipped
    outputs: tuple[str, ...] = ()  # paths written, dataset_info.json (when written) last

    def __str__(self) -> str:
        """For the log: '9 records from 10 validated files (1 duplicates dropped, ...) -> path'."""
        text = (
            f"{self.written} records from {self.files_read} validated files "
            f"({self.duplicates} duplicates dropped, {sum(self.filtered.values())} filtered, "
            f"{len(self.bad_files)} bad files skipped)"
        )
        if self.filtered:
            text += " [" + ", ".join(f"{k} {v}" for k, v in sorted(self.filtered.items())) + "]"
        if self.outputs:
            text += f" -> {self.outputs[0]}"
        for bad in self.bad_files[:5]:
            text += f"\n  skipped {bad}"
        if len(self.bad_files) > 5:
            text += f"\n  ... and {len(self.bad_files) - 5} more"
        return text


def _training_record(
    record: dict, fmt: str, mode: str, system: str | None, verdict: dict | None, rate=None
):
    """Re-render one stored record into `fmt`; returns (record, dedup key) or raises ValueError.
    `rate` is the problem version's (correct, graded): meta.pass_rate and meta.n_graded."""
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
    difficulty_meta(meta, rate)
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


# A type folder with this many validated files is rendered in worker processes, CHUNK files a
# task, while this process writes: 1M samples are read, re-rendered and serialised in half the time
# on two cores. Smaller folders are rendered inline (a pool costs more than it saves there).
PARALLEL_FROM = 4096
CHUNK = 512
_LOGS: dict[str, dict[str, dict]] = {}  # verdict log -> latest verdicts, read once per process


def _render_chunk(
    src_dir: str, type_: str, fmt: str, mode: str, system: str | None, planned: int | None,
    sel: Selection, rates: dict[int, tuple[int, int]], files: list[tuple[int, int, str]],
    judged: dict[str, dict] | None = None,
) -> list[tuple[str | None, bytes | None, bool, str | None, str | None]]:  # fmt: skip
    """(merged line, dedup key, has a system prompt, why skipped, drop reason) per validated
    file of a chunk, in order; a file that cannot be used (or a stray one, beyond the `planned`
    problems) gets (None, None, False, why, None); one the selection drops gets (its audit line,
    None, False, None, reason). With `judged` (name -> judge line), the files are samples the
    rules rejected and the judge recovered (--judge accept), read from the type folder."""
    folder = Path(src_dir) / type_ if judged else layout.validated_dir(Path(src_dir) / type_)
    source = Path(src_dir).name
    out = []
    for p, _, name in files:
        path = os.path.join(folder, name)
        if planned is not None and p >= planned:
            out.append((None, None, False, stray_warning(path, p, planned), None))
            continue
        try:
            record = layout.read_sample(path)
            meta, verdict = record.get("meta"), None
            if judged:
                line = judged[name]
                verdict = {
                    "reason": "judge_accepted",
                    "extracted_answer": line.get("extracted_answer"),
                }
                record = {**record, "meta": {**(meta if isinstance(meta, dict) else {}),
                                             "rule_verdict": line.get("rule"),
                                             "judge_model": line.get("judge_model")}}  # fmt: skip
            elif not (isinstance(meta, dict) and "verdict" in meta):
                # The watcher's copies carry meta.verdict: read the log only if one does not.
                log = str(layout.verdict_log(Path(src_dir) / type_))
                if log not in _LOGS:
                    _LOGS[log] = layout.read_verdict_log(log)[0]
                verdict = _LOGS[log].get(name)
            reason = sel.drop_reason(record, rates.get(p))
            if reason is not None:
                audit = audit_line(source, type_, name, reason, record, rates.get(p))
                out.append((dumps(audit) + "\n", None, False, None, reason))
                continue
            rec, key = _training_record(record, fmt, mode, system, verdict, rates.get(p))
            out.append((dumps(rec) + "\n", key, bool(rec.get("system")), None, None))
        except (OSError, UnicodeDecodeError, ValueError) as exc:  # InputError is a ValueError
            out.append((None, None, False, skip_reason(path, exc), None))
    return out


def _rates_of(
    rates: dict[int, tuple[int, int]], files: list[tuple[int, int, str]]
) -> dict[int, tuple[int, int]]:
    """The pass rates a chunk's problems need: a task pickles these, not every problem's (at a
    million samples the whole dict, sent with each of two thousand tasks, cost minutes)."""
    return {p: rates[p] for p in {f[0] for f in files} if p in rates}


def _in_order(pool: ProcessPoolExecutor, tasks: Iterator[tuple], ahead: int) -> Iterator:
    """pool.map() that keeps only `ahead` tasks submitted at a time: results in task order,
    memory bounded whatever the number of tasks."""
    pending: deque = deque()
    for args in tasks:
        pending.append(pool.submit(_render_chunk, *args))
        if len(pending) >= ahead:
            yield pending.popleft().result()
    while pending:
        yield pending.popleft().result()


def _validated_records(
    src_dir: Path,
    type_: str,
    fmt: str,
    mode: str,
    system: str | None,
    bad: list[str],
    planned: int | None = None,
    pool: Callable[[], ProcessPoolExecutor | None] = lambda: None,
    sel: Selection = DEFAULT_SELECTION,
    rates: dict[int, tuple[int, int]] | None = None,
) -> Iterator[tuple[str | None, bytes | None, bool, str | None]]:
    """(merged line, dedup key, has a system prompt, drop reason) per validated file of one
    source x type, in numeric order; (None, None, False, None) for a file that cannot be used,
    whose reason is appended to `bad`; (audit line, None, False, reason) for one the selection
    drops. `pool()` gives worker processes for a big folder (None: render here)."""
    folder = layout.validated_dir(src_dir / type_)
    files, odd = layout.list_sample_files(folder)
    bad.extend(f"{folder / n}: not a <problem>_<sample>.jsonl name" for n in odd)
    rates = rates if rates is not None else pass_rates(src_dir / type_) if files else {}
    head = (str(src_dir), type_, fmt, mode, system, planned, sel)
    tasks = (
        (*head, _rates_of(rates, chunk), chunk)
        for chunk in (files[i : i + CHUNK] for i in range(0, len(files), CHUNK))
    )
    workers = pool() if len(files) >= PARALLEL_FROM else None
    if workers is None:
        chunks = (_render_chunk(*args) for args in tasks)
    else:
        chunks = _in_order(workers, tasks, ahead=4 * (workers._max_workers or 1))
    for chunk in chunks:
        for line, key, has_system, why, reason in chunk:
            if why is not None:
                bad.append(why)
            yield line, key, has_system, reason


def merge_outputs(
    output_dir: str | os.PathLike,
    fmt: str,
    reasoning_mode: str = "think_tags",
    system: str | None = None,
    selection: Selection = DEFAULT_SELECTION,
) -> MergeStats:
    """Merge every validated sample that `selection` keeps into `merged/` (all sources + one
    file per source); the dropped ones go to merged/filtered.jsonl with their reason, the counts
    per source x type to merged/merge_summary.json (sftkit/output/selection.py).

    Records stream to temp files (a run can hold gigabytes of reasoning), renamed when complete.
    A bad or unreadable validated file is listed in `bad_files` and skipped; nothing crashes.
    """
    if fmt not in FORMATS:
        raise ValueError(f"unknown format {fmt!r}; choose one of {', '.join(FORMATS)}")
    if reasoning_mode not in REASONING_MODES:
        raise ValueError(f"unknown reasoning mode {reasoning_mode!r}")
    out = Path(output_dir)
    all_path = layout.merged_file(out, ALL_NAME, fmt)
    state = read_state(out)[0]
    by_key = state.by_source_type if state else {}
    _LOGS.clear()  # verdict logs are read afresh by every merge (and before workers fork)
    workers: list[ProcessPoolExecutor] = []

    def pool() -> ProcessPoolExecutor | None:
        """Worker processes, started when a folder is first big enough to need them."""
        if not workers and (os.cpu_count() or 1) > 1:
            workers.append(ProcessPoolExecutor(max_workers=os.cpu_count()))
        return workers[0] if workers else None

    try:
        return _merge(out, fmt, reasoning_mode, system, all_path, by_key, pool, selection)
    finally:
        for w in workers:
            w.shutdown(cancel_futures=True)
        _LOGS.clear()


def _merge(
    out: Path, fmt: str, reasoning_mode: str, system, all_path, by_key, pool, sel: Selection
) -> MergeStats:
    """merge_outputs() once its settings are checked (see there)."""
    seen: set[bytes] = set()
    tallies: dict[str, Tally] = {}
    bad: list[str] = []
    by_source: dict[str, int] = {}
    info: dict[str, dict | None] = {}
    files_read = duplicates = 0
    # Declare a system column only when every record has one: a column missing from some
    # records loads as null and LLaMA-Factory would pass None as the system prompt.
    all_system = True
    recovered_lines: list[dict] = []
    with atomic_open(all_path) as all_fh, atomic_open(audit_file(out)) as audit_fh:
        for source in layout.list_sources(out):
            src_dir = out / source
            types = layout.source_types(src_dir, validated=True)
            source_path = layout.merged_file(out, source, fmt)
            if not types:
                source_path.unlink(missing_ok=True)  # a stale file from an earlier merge
                continue
            count, source_system = 0, True
            with atomic_open(source_path) as fh:
                for type_ in types:
                    planned = planned_problems(by_key.get(f"{source}/{type_}"))
                    tally = tallies.setdefault(f"{source}/{type_}", Tally())
                    rates = pass_rates(src_dir / type_)
                    found = _validated_records(
                        src_dir, type_, fmt, reasoning_mode, system, bad, planned, pool, sel, rates
                    )
                    # Rule-rejected samples the judge recovered: listed always, merged with
                    # --judge accept (after the validated ones, through the same filters).
                    recovered = judge_recovered(src_dir / type_)
                    accept = sel.judge == "accept"
                    for name, jl in recovered.items():
                        recovered_lines.append(recovered_line(source, type_, name, jl, accept))
                    tally.judge_recovered = len(recovered)
                    tagged = ((False, *item) for item in found)
                    if recovered and accept:
                        files = [(*layout.parse_sample_name(n), n) for n in recovered]
                        head = (str(src_dir), type_, fmt, reasoning_mode, system, planned)
                        judged = _render_chunk(*head, sel, rates, files, recovered)
                        tagged = chain(
                            tagged, ((True, *r[:3], r[4]) for r in judged if r[3] is None)
                        )
                        bad.extend(r[3] for r in judged if r[3] is not None)
                        tally.judge_recovered -= sum(r[3] is not None for r in judged)
                    for by_judge, line, key, has_system, reason in tagged:
                        if not by_judge:
                            files_read += 1
                            if line is None:
                                continue
                            tally.correct += 1
                        if reason is not None:
                            tally.drop(reason)
                            audit_fh.write(line)
                            continue
                        if key in seen:
                            duplicates += 1
                            tally.duplicates += 1
                            continue
                        tally.merged += 1
                        seen.add(key)
                        fh.write(line)
                        all_fh.write(line)
                        count += 1
                        source_system = source_system and has_system
            if count:
                by_source[source] = count
                info[source] = llamafactory_entry(source_path.name, fmt, source_system)
                all_system = all_system and source_system
            else:
                # No validated record (left): no file, rather than a stale or empty one.
                source_path.unlink()
    judge_path = layout.merged_dir(out) / RECOVERED_NAME
    if recovered_lines:
        atomic_write_jsonl(judge_path, recovered_lines)
    else:
        judge_path.unlink(missing_ok=True)  # a list of an earlier merge would mislead
    written = sum(by_source.values())
    outputs = [str(all_path)]
    outputs += [str(layout.merged_file(out, s, fmt)) for s in by_source]
    info_path = layout.dataset_info_file(out)
    entry = llamafactory_entry(all_path.name, fmt, written > 0 and all_system)
    if entry is None:
        # A format LLaMA-Factory cannot read: an older dataset_info.json would describe files of
        # an earlier merge as if they were this one.
        info_path.unlink(missing_ok=True)
    else:
        info = {ALL_NAME: entry, **info}
        atomic_write_text(info_path, json.dumps(info, ensure_ascii=False, indent=2) + "\n")
        outputs.append(str(info_path))
    summary = write_summary(out, sel, fmt, tallies)
    return MergeStats(
        fmt=fmt,
        reasoning_mode=reasoning_mode,
        files_read=files_read,
        written=written,
        duplicates=duplicates,
        filtered=summary["totals"]["by_reason"],
        by_source=by_source,
        bad_files=tuple(bad),
        outputs=tuple(outputs),
    )
