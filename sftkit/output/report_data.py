r"""What the HTML report needs beyond report.json: the grader's reasons, pass rates per problem
version, the open failures, and a bounded, reproducible choice of samples to read.

Pipeline order: collect() -> (per source x type) _scan_type() -> _choose() -> _read_chosen().

Usage:
    data = collect("sft_output", report, browse_samples=20)
    data.types[0].reasons            # Counter({"match_exact": 87, "mismatch": 40, "no_box": 5})
    data.types[0].samples[0].reason  # "mismatch"

Cost: two streaming reads of each verdict log (the second parses only to pick up the chosen
samples' lines), one listing of each sample folder and one read per chosen sample. Per stored
sample the state is one byte (its latest reason and whether it was correct) in a bytearray per
problem, as in sftkit/watching/index.py: a million samples take about a megabyte.

The choice of samples is reproducible: in each source x version x reason group the samples with
the smallest rank(p, s) (a fixed integer hash) are shown, so the same folder shows the same samples.
"""

from __future__ import annotations

import heapq
import os
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from sftkit.common.jsonl import read_log
from sftkit.output import layout
from sftkit.output.formats import parse
from sftkit.watching.index import SampleSet, parse_name

MAX_REASONS = 126  # distinct reasons per verdict log kept apart; any further ones count as "other"
# Text shown per sample is clipped (the page must stay small with 30k-token traces); the sample
# file's path is on the page for the rest.
CLIP_CHARS = {"problem": 4000, "answer": 6000, "reasoning": 12000}
# All browsed text together, in UTF-8 bytes (Korean takes three a character): with the figures
# (a few hundred kB) and the markup, report.html stays under 20 MB whatever the traces' length.
SAMPLE_BUDGET_BYTES = 12_000_000
MAX_FAILURES = 200  # open failure lines listed on the page (all are counted)
# Problem versions by pass rate (correct / graded): exactly 0, ten bands of 10 %, exactly 1.
PASS_BUCKETS = ("0", *(f"{10 * i}-{10 * i + 10}%" for i in range(10)), "100%")


def pass_bucket(correct: int, graded: int) -> int:
    """Index into PASS_BUCKETS: (0, 4) -> 0, (1, 4) -> 3 ("20-30%"), (4, 4) -> 11."""
    if correct == 0:
        return 0
    if correct == graded:
        return len(PASS_BUCKETS) - 1
    return min(10, correct * 10 // graded) + 1


def rank(p: int, s: int) -> int:
    """A fixed hash of a sample's place that spreads the chosen samples over problems:
    rank(3, 1) is the same on every machine and every run."""
    x = (p * 0x9E3779B1 + s * 0x85EBCA77 + 0x27D4EB2F) & 0xFFFFFFFF
    x ^= x >> 15
    x = (x * 0x2C1B3C6D) & 0xFFFFFFFF
    return x ^ (x >> 12)


@dataclass(frozen=True)
class Sample:
    """One sample as the browser shows it; texts clipped to CLIP_CHARS (`clipped` says which)."""

    source: str
    type: str
    problem_index: int
    sample_index: int
    problem_id: str | None
    reason: str
    correct: bool
    gold: str | None
    extracted: str | None
    problem: str
    answer: str
    reasoning: str | None
    path: str
    clipped: tuple[str, ...] = ()


@dataclass
class TypeData:
    source: str
    type: str
    reasons: Counter = field(default_factory=Counter)  # latest reason of each stored sample
    accepting: set[str] = field(default_factory=set)  # reasons of correct verdicts
    pass_buckets: list[int] = field(default_factory=lambda: [0] * len(PASS_BUCKETS))
    samples: list[Sample] = field(default_factory=list)
    chosen: dict[str, list[tuple[int, int]]] = field(default_factory=dict)  # reason -> (p, s)


@dataclass
class ReportData:
    types: list[TypeData]
    failures: list[dict]  # open failure lines, at most MAX_FAILURES
    open_failures: int  # all of them
    browse_samples: int


def _scan_type(folder: Path, planned: int | None, k: int) -> tuple[TypeData, SampleSet]:
    """Reasons, pass-rate buckets and the chosen (p, s) of one type folder, from its verdict log
    and its listing; the stored names are returned for the failures."""
    data = TypeData(folder.parent.name, folder.name)
    reasons: dict[str, int] = {}
    codes: dict[int, bytearray] = {}  # problem -> one byte per sample: 1 + 2 * reason + correct
    for _, line in layout.verdict_lines(layout.verdict_log(folder)):
        key = parse_name(line["file"].rsplit("/", 1)[-1]) if line else None
        if key is None:
            continue
        reason = line.get("reason")
        reason = reason if isinstance(reason, str) else "error" if line.get("error") else "?"
        rid = reasons.get(reason)
        if rid is None:
            reason = reason if len(reasons) < MAX_REASONS else "other"
            rid = reasons.setdefault(reason, len(reasons))
        row = codes.get(key[0])
        if row is None:
            row = codes[key[0]] = bytearray()
        if key[1] >= len(row):
            row.extend(bytes(key[1] + 1 - len(row)))
        row[key[1]] = 1 + 2 * rid + (line.get("is_correct") is True)
    names = {rid: reason for reason, rid in reasons.items()}
    files, _ = layout.list_sample_files(folder)
    stored = SampleSet()
    heaps: dict[int, list[tuple[int, int, int]]] = {}  # reason id -> max-heap of (-rank, p, s)
    per_problem: dict[int, list[int]] = {}  # p -> [graded, correct]
    for p, s, name in files:
        if planned is not None and p >= planned:
            continue  # stray: left out of every figure, as in report.json
        stored.add(name)
        row = codes.get(p)
        code = row[s] if row is not None and s < len(row) else 0
        if not code:
            continue
        rid, correct = divmod(code - 1, 2)
        counts = per_problem.setdefault(p, [0, 0])
        counts[0] += 1
        counts[1] += correct
        data.reasons[names[rid]] += 1
        if correct:
            data.accepting.add(names[rid])
        if not k:
            continue  # --browse_samples 0: figures only
        heap = heaps.setdefault(rid, [])
        r = rank(p, s)
        if len(heap) < k:
            heapq.heappush(heap, (-r, p, s))
        elif -heap[0][0] > r:
            heapq.heapreplace(heap, (-r, p, s))
    for graded, correct in per_problem.values():
        data.pass_buckets[pass_bucket(correct, graded)] += 1
    for rid, heap in sorted(heaps.items(), key=lambda kv: names[kv[0]]):
        data.chosen[names[rid]] = [(p, s) for _, p, s in sorted(heap, reverse=True)]
    return data, stored


def _clip(text: str | None, limit: int) -> tuple[str, bool]:
    text = text or ""
    if len(text) <= limit:
        return text, False
    return text[:limit] + f"\n[... {len(text) - limit:,} more characters in the sample file]", True


def _read_sample(folder: Path, p: int, s: int, reason: str, line: dict) -> Sample:
    """The browser's view of one chosen sample; an unreadable file shows why instead."""
    path = folder / layout.sample_name(p, s)
    try:
        record = layout.read_sample(path)
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        record = {
            "meta": {},
            "messages": [{"role": "assistant", "content": f"(unreadable: {exc})"}],
        }
    conv = parse(record)
    meta = record.get("meta") if isinstance(record.get("meta"), dict) else {}
    prompt = meta.get("prompt") if isinstance(meta.get("prompt"), str) else None
    texts, clipped = {}, []
    for part, text in (
        ("problem", prompt or (conv.prompt if conv else "")),
        ("answer", conv.content if conv else ""),
        ("reasoning", conv.reasoning if conv else None),
    ):
        texts[part], cut = _clip(text, CLIP_CHARS[part])
        clipped += [part] if cut else []
    gold = record.get("answer", line.get("ground_truth"))
    extracted = line.get("extracted_answer")
    return Sample(
        source=folder.parent.name,
        type=folder.name,
        problem_index=p,
        sample_index=s,
        problem_id=None if meta.get("problem_id") is None else str(meta["problem_id"]),
        reason=reason,
        correct=line.get("is_correct") is True,
        gold=None if gold is None else str(gold),
        extracted=None if extracted is None else str(extracted),
        problem=texts["problem"],
        answer=texts["answer"],
        reasoning=texts["reasoning"] or None,
        path=str(path),
        clipped=tuple(clipped),
    )


def _read_chosen(folder: Path, data: TypeData, budget: list[int]) -> None:
    """Read the chosen samples round-robin over reasons (sample i of every reason before sample
    i + 1 of any) until the page's text budget is spent, so every reason shows some."""
    wanted = {layout.sample_name(p, s) for picks in data.chosen.values() for p, s in picks}
    lines: dict[str, dict] = {}
    for _, line in layout.verdict_lines(layout.verdict_log(folder)):
        if line and line["file"].rsplit("/", 1)[-1] in wanted:
            lines[line["file"].rsplit("/", 1)[-1]] = line  # the last line per file wins
    depth = max((len(v) for v in data.chosen.values()), default=0)
    for i in range(depth):
        for reason, picks in data.chosen.items():
            if i >= len(picks) or budget[0] <= 0:
                continue
            p, s = picks[i]
            sample = _read_sample(folder, p, s, reason, lines.get(layout.sample_name(p, s), {}))
            texts = (sample.problem, sample.answer, sample.reasoning or "")
            budget[0] -= sum(len(t.encode("utf-8")) for t in texts)
            data.samples.append(sample)


def _failed_sample(obj: dict) -> tuple[str, int, int] | None:
    """(type, p, s) a failures.jsonl line names: {"type": "multiples", "problem_index": 3,
    "sample_index": 1} or {"generation_id": "src/multiples/3_1"} -> ("multiples", 3, 1)."""
    t, p, s = obj.get("type"), obj.get("problem_index"), obj.get("sample_index")
    if isinstance(t, str) and isinstance(p, int) and isinstance(s, int):
        return t, p, s
    return layout.parse_generation_id(str(obj.get("generation_id") or ""))


def collect(output_dir: str | os.PathLike, report: dict, browse_samples: int = 20) -> ReportData:
    """Everything the page shows that report.json does not hold, for the rows of `report`."""
    out = Path(output_dir)
    types, stored_by = [], {}
    budget, rows = SAMPLE_BUDGET_BYTES, report.get("rows", [])
    for i, row in enumerate(rows):
        gen = row.get("generation") if isinstance(row.get("generation"), dict) else {}
        planned = gen.get("problems") if isinstance(gen.get("problems"), int) else None
        folder = layout.type_dir(out, row["source"], row["type"])
        data, stored = _scan_type(folder, planned, max(0, browse_samples))
        # An even share of what is left, so the first source x version cannot spend it all.
        share = [max(1, budget // (len(rows) - i)) if budget > 0 else 0]
        before = share[0]
        _read_chosen(folder, data, share)
        budget -= before - share[0]
        types.append(data)
        stored_by[(row["source"], row["type"])] = stored
    failures, total = [], 0
    for source in sorted({row["source"] for row in report.get("rows", [])}):
        records, _ = read_log(layout.failures_file(out, source))
        for _, obj in records:
            named = _failed_sample(obj)
            stored = stored_by.get((source, named[0])) if named else None
            if named and stored is not None and layout.sample_name(*named[1:]) in stored:
                continue  # stored by a later run: not open any more
            total += 1
            if len(failures) < MAX_FAILURES:
                failures.append({"source": source, **obj})
    return ReportData(types, failures, total, browse_samples)
