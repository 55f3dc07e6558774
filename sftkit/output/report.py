r"""The figures: per source x type how generation and grading went, as report.json and as the
printed table (drawn by sftkit.common.table, which the watcher and the validator CLI share).

Pipeline order: build_report() -> write_report() -> format_report().

Usage:
    report = write_report("sft_output")          # also writes sft_output/report.json
    print(format_report(report))
"""

from __future__ import annotations

import json
import os
import time
from bisect import bisect_right
from collections import defaultdict
from pathlib import Path

from sftkit.common.jsonl import InputError, atomic_write_text, read_log
from sftkit.common.table import text_table
from sftkit.generation.signature import read_signatures
from sftkit.generation.state import SCREENING, planned_problems, read_state
from sftkit.output import layout, selection
from sftkit.output.figures import meta_figures
from sftkit.output.fit import SOURCE_WIDTH_NARROW, TYPE_SHORT, WIDE, fit_lines, report_width
from sftkit.output.merge import skip_reason, stray_warning
from sftkit.watching.index import SampleSet

_REPORT_NAME = layout.report_file("").name  # named in the printed table's hints

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

# Completion-token histogram bins (report.json "token_edges"): bin i holds lengths in
# [edges[i], edges[i+1]), the last bin everything from edges[-1] up. Half-octaves from 16 to 128k:
# fine enough for a 40-token demo reply and a 30k-token trace, and the same for every run.
TOKEN_EDGES = (0, *(round(2 ** (k / 2)) for k in range(8, 35)))


def _failure_keys(obj: dict) -> tuple[str | None, list[tuple[int, int]]]:
    """(type, [(problem, sample)]) named by one failures.jsonl line, as far as it says.

    {"type": "multiples", "problem_index": 3, "sample_index": 1} -> ("multiples", [(3, 1)])
    {"generation_id": "s/multiples/3_1"} -> ("multiples", [(3, 1)])
    """
    type_ = obj.get("type") if isinstance(obj.get("type"), str) else None
    p, s = obj.get("problem_index"), obj.get("sample_index")
    if isinstance(p, int) and isinstance(s, int):
        return type_, [(p, s)]
    named = layout.parse_generation_id(str(obj.get("generation_id") or ""))
    if named:
        return named[0], [named[1:]]
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


def _ratio(num: float, den: float) -> float | None:
    return round(num / den, 6) if den else None


def _type_report(
    src_dir: Path,
    source: str,
    type_: str,
    failed: set,
    vague: int,
    gen: dict | None,
    known: dict | None = None,
):
    """One report row for source x type, its zero-correct problems, and warnings.

    A sample's figures (tokens, truncation, reasoning) come from its verdict line when that
    carries them and still holds (sftkit.output.figures); any other sample file is read once for
    its meta. A file whose problem index is beyond the generator's plan (`999_0.jsonl` in a
    33-problem source) is counted as `stray`, listed in the warnings and left out of every other
    figure. A verdict whose file changed since it was graded does not count: the sample is
    `ungraded` until regraded.
    """
    planned = planned_problems(gen)
    folder = str(src_dir / type_)
    files, odd = layout.list_sample_files(src_dir / type_)
    log = layout.verdict_log(src_dir / type_)
    verdicts, bad_lines = layout.read_verdict_index(log)  # compact: a million lines fit
    if known is not None:  # the gold audit reuses both: a million lines are parsed once
        known[folder] = (verdicts, files)
    warnings = [f"{src_dir / type_ / n}: not a <problem>_<sample>.jsonl name" for n in odd]
    if bad_lines:
        warnings.append(f"{log}: {len(bad_lines)} unreadable lines")
    row = dict.fromkeys(_COUNTS, 0)
    per_problem: dict[int, list[int]] = {}  # problem -> [samples, graded, correct]
    problem_ids: dict[int, str] = {}
    stored = SampleSet()
    # Completion tokens of graded samples: accepted (correct) and rejected, per TOKEN_EDGES bin.
    hist = {"accepted": [0] * len(TOKEN_EDGES), "rejected": [0] * len(TOKEN_EDGES)}
    for p, _, name in files:
        path = os.path.join(folder, name)
        if planned is not None and p >= planned:
            row["stray"] += 1
            warnings.append(stray_warning(path, p, planned))
            continue
        stored.add(name)
        counts = per_problem.setdefault(p, [0, 0, 0])
        counts[0] += 1
        verdict = verdicts.get(name)
        if verdict is not None:
            try:
                if verdicts.is_stale(name, os.stat(path)):
                    verdict = None
            except OSError:
                pass  # gone since listed: reading it below says so
        if verdict is not None:
            counts[1] += 1
            counts[2] += verdict.correct
        figures = verdict.figures if verdict is not None else None
        if figures is None:
            try:
                meta = layout.read_sample(path).get("meta") or {}
            except (OSError, UnicodeDecodeError, ValueError) as exc:
                row["unreadable"] += 1
                warnings.append(skip_reason(src_dir / type_ / name, exc))
                continue
            if not isinstance(meta, dict):
                continue
            if meta.get("problem_id") is not None:
                problem_ids.setdefault(p, str(meta["problem_id"]))
            figures = meta_figures(meta)
        row["prompt_tokens"] += figures.prompt_tokens
        row["completion_tokens"] += figures.completion_tokens
        row["truncations"] += figures.truncated
        row["with_reasoning"] += figures.with_reasoning
        # 0: no count (missing or odd in meta); such samples stay out of the histogram.
        if verdict is not None and figures.completion_tokens > 0:
            side = "accepted" if verdict.correct else "rejected"
            hist[side][bisect_right(TOKEN_EDGES, figures.completion_tokens) - 1] += 1
    zero = []
    buckets = dict.fromkeys(selection.BUCKETS, 0)
    for p, (samples, graded, correct) in per_problem.items():
        if graded:
            buckets[selection.bucket(correct, graded)] += 1
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
    unknown = {z["problem_index"] for z in zero if z["problem_id"] is None}
    ids = _problem_ids(folder, files, unknown) if unknown else {}
    for z in zero:
        z["problem_id"] = z["problem_id"] or ids.get(z["problem_index"])
    row["problems"] = len(per_problem)
    row["ungraded"] = row["samples"] - row["graded"]
    # A sample that failed once but was stored by a later run is not a failure any more.
    row["failures"] = sum(layout.sample_name(p, s) not in stored for p, s in failed) + vague
    row = {"source": source, "type": type_, **row, "pass_rate_buckets": buckets}
    row["completion_tokens_hist"] = hist
    return {**row, "generation": gen}, zero, warnings


def _problem_ids(folder: str, files: list, wanted: set[int]) -> dict[int, str]:
    """Problem id per wanted problem, from the meta of its first sample file that names one: for
    the problems the report lists whose files were not read for their figures."""
    found: dict[int, str] = {}
    for p, _, name in files:
        if p not in wanted or p in found:
            continue
        try:
            meta = layout.read_sample(os.path.join(folder, name)).get("meta")
        except (OSError, UnicodeDecodeError, ValueError):
            continue
        if isinstance(meta, dict) and meta.get("problem_id") is not None:
            found[p] = str(meta["problem_id"])
    return found


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
    in `suspicious_golds` (see sftkit.output.gold_audit).
    """
    # Here, not at the top: it loads the grader, which format_report does not need.
    from sftkit.output.gold_audit import audit_output

    out = Path(output_dir)
    state, gen_problem = read_state(out)
    by_key = state.by_source_type if state else {}
    rows, zero, warnings = [], [], [gen_problem] if gen_problem else []
    known: dict = {}  # type folder -> (verdict index, sample files), for the gold audit
    try:
        held = read_signatures(out)
    except InputError as exc:
        held = None
        warnings.append(str(exc))
    merged = selection.read_summary(out)
    merged_rows = (merged or {}).get("by_source_type") or {}
    for source in layout.list_sources(out):
        src_dir = out / source
        failures = layout.failures_file(out, source)
        failed, vague, bad_failures = read_failures(failures)
        if bad_failures:
            warnings.append(f"{failures}: {bad_failures} unreadable lines")
        types = (
            set(failed)
            | set(vague)
            | {k.split("/", 1)[1] for k in by_key if k.startswith(f"{source}/")}
        )
        types.update(layout.source_types(src_dir, samples=True, verdicts=True))
        for type_ in sorted(types, key=layout.type_order):
            gen = by_key.get(f"{source}/{type_}")
            row, row_zero, row_warn = _type_report(
                src_dir, source, type_, failed.get(type_, set()), vague.get(type_, 0), gen, known
            )
            # What the last merge kept of this source x type (None: never merged).
            row["merge"] = merged_rows.get(f"{source}/{type_}")
            rows.append(_finish(row))
            zero.extend(row_zero)
            warnings.extend(row_warn)
    totals = _finish({k: sum(r[k] for r in rows) for k in _COUNTS})
    totals["pass_rate_buckets"] = {
        b: sum(r["pass_rate_buckets"][b] for r in rows) for b in selection.BUCKETS
    }
    if merged is not None:
        totals["merge"] = merged.get("totals")
    generation = state.summary() if state else None
    screening = {k: getattr(state, k, None) for k in SCREENING}
    return {
        "output_dir": str(out),
        "created": time.time(),
        # Samples of more than one model / sampling settings (the generator's --allow_mixed).
        "mixed": bool(held and held.get("mixed")),
        "signatures": held["signatures"] if held else [],
        "rows": rows,
        "totals": totals,
        "token_edges": list(TOKEN_EDGES),
        "zero_correct": zero,
        # The last merge: its filters, pass-rate band and judge mode, counts in rows[].merge.
        "merge": None
        if merged is None
        else {k: v for k, v in merged.items() if k not in ("by_source_type", "totals")},
        "suspicious_golds": audit_output(out, gold_min_samples, gold_share, known),
        "generation": generation,
        # The generator's screening before any request (sftkit.generation.screen); None: off.
        **screening,
        "warnings": warnings,
    }


def write_report(
    output_dir: str | os.PathLike, gold_min_samples: int = 4, gold_share: float = 0.75
) -> dict:
    """build_report() and write it atomically to `<output>/report.json`."""
    report = build_report(output_dir, gold_min_samples, gold_share)
    text = json.dumps(report, ensure_ascii=False, indent=2) + "\n"
    atomic_write_text(layout.report_file(output_dir), text)
    return report


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.1f}%"


REPORT_WIDTH = 100  # a tmux half-pane (the launcher gives each pane about 110 columns)
SOURCE_WIDTH = 18  # longer source names are shortened in the table (report.json has them whole)


def _short(name: str, width: int = SOURCE_WIDTH) -> str:
    """A table cell of at most width characters: _short("2024_csat_math_even_odd", 12) ->
    "2024_csat_m~"."""
    return name if len(name) <= width else name[: width - 1] + "~"


def _input_lines(inputs) -> list[str]:
    """ "Inputs: 35 problems from 7 files (--versions auto); 2 bad rows skipped; 2 identical
    problems merged" (sftkit.generation.plan.summarize); nothing for an older state file."""
    if not isinstance(inputs, dict):
        return []
    files = inputs.get("files") or []
    line = (
        f"Inputs: {inputs.get('problems')} problems from {len(files)} file(s) "
        f"(--versions {inputs.get('versions')})"
    )
    if inputs.get("bad_rows_skipped"):
        line += f"; {inputs['bad_rows_skipped']} bad rows skipped (--skip_bad_rows)"
    if inputs.get("identical_merged"):
        line += f"; {inputs['identical_merged']} identical problems merged (asked once)"
    return [line]


def format_report(report: dict, max_listed: int = 30, width: int | None = None) -> str:
    """The printed report: one row per source x type, a total, token counts, zero-correct
    problems and sampling; every line fits `width` columns, by default the terminal's and at
    least 80 (sftkit.output.fit; README explains the columns)."""
    width = report_width(width)
    narrow = width < WIDE
    head = (
        "source", "type", "probs", "samples", "correct", "acc", ">=1", "zero", "mean",
        "ungr" if narrow else "ungraded", "fail", "trunc",
    )  # fmt: skip

    def cells(row: dict, source: str, type_: str) -> tuple:
        mean = row["mean_correct_per_problem"]
        return (
            _short(source, SOURCE_WIDTH_NARROW if narrow else SOURCE_WIDTH),
            TYPE_SHORT.get(type_, type_) if narrow else type_,
            row["problems"], row["samples"], row["correct"],
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
    lines.extend(_pass_rate_lines(totals.get("pass_rate_buckets") or {}))
    lines.extend(_merge_lines(report, max_listed))
    zero = report["zero_correct"]
    lines.append(f"Problems with zero correct: {len(zero)}")
    for z in zero[:max_listed]:
        pid = f" (id {z['problem_id']})" if z.get("problem_id") is not None else ""
        lines.append(
            f"  {z['source']}/{z['type']} problem {z['problem_index']}{pid}: "
            f"0 of {z['graded']} graded"
        )
    if len(zero) > max_listed:
        lines.append(f"  ... and {len(zero) - max_listed} more (see {_REPORT_NAME})")
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
        lines.extend(_input_lines(gen.get("inputs")))
        lines.append(f"Sampling: model {gen.get('model')}, n {gen.get('n')}")
        lines.append(f"  {k_text}, {r_text}")
        lines.extend(_run_lines(gen, t))
        for r in report["rows"]:
            g = r.get("generation")
            if isinstance(g, dict) and (g.get("skipped_k_correct") or g.get("retry_samples")):
                lines.append(
                    f"  {r['source']}/{r['type']}: {g.get('skipped_k_correct') or 0} skipped by "
                    f"k_correct, {g.get('retry_samples') or 0} retry samples"
                )
    lines.extend(_screening_lines(report))
    if report.get("mixed"):
        lines.append(
            f"Mixed folder: samples of {len(report['signatures'])} runs (models or sampling "
            f"settings differ; see {layout.signature_file('').name})"
        )
    stray = report["totals"].get("stray")
    if stray:
        lines.append(f"Stray files: {stray} (no planned problem; not counted, not merged)")
    if report.get("warnings"):
        lines.append(f"Warnings: {len(report['warnings'])} (see {_REPORT_NAME})")
    lines.extend(_suspicious_lines(report.get("suspicious_golds") or [], max_listed))
    return "\n".join(fit_lines(lines, width))


def _run_lines(gen: dict, t: dict) -> list[str]:
    """The last run's counts. A resumed run skips what is stored: said, or half the data looks
    missing. "planned 528, 266 skipped as already stored, written 262, failed 0"."""
    skipped = t.get("skipped_existing") or 0
    lines = [
        f"  planned {t.get('planned', 0)}, "
        + (f"{skipped} skipped as already stored, " if skipped else "")
        + f"written {t.get('written', 0)}, failed {t.get('failed', 0)}"
    ]
    if gen.get("interrupted"):
        lines.append(
            f"  interrupted by {gen['interrupted']}: the rest was not asked; rerun the same "
            "command to resume"
        )
    return lines


def _screening_lines(report: dict) -> list[str]:
    """What the screening dropped or found: one line each, the benchmarks one per file."""
    lines = []
    dec = report.get("decontamination")
    if isinstance(dec, dict):
        lines.append(
            f"Decontamination ({dec.get('ngram')}-grams): {dec.get('contaminated')} of "
            f"{dec.get('problems_checked')} problems dropped before any request "
            f"(see {dec.get('file')})"
        )
        for b in dec.get("benchmarks") or []:
            name = str(b.get("file"))  # the end of a long path names the file
            name = name if len(name) <= 70 else "..." + name[-67:]
            lines.append(f"  {name}: {b.get('contaminated')}")
    near = report.get("near_duplicates")
    if isinstance(near, dict):
        lines.append(
            f"Near duplicates (Jaccard >= {near.get('threshold')}): {near.get('clusters')} "
            f"clusters of {near.get('problems_in_clusters')} problems, "
            f"{near.get('different_gold_clusters')} with different golds; "
            f"{near.get('dropped')} dropped ({near.get('mode')}; see {near.get('file')})"
        )
    return lines


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
        lines.append(f"  ... and {len(flagged) - max_listed} more (see {_REPORT_NAME})")
    return lines


def _wrap(head: str, items: list[str], width: int = REPORT_WIDTH) -> list[str]:
    """head + items joined by ", ", continued on indented lines within width."""
    lines, cur = [], head
    for i, item in enumerate(items):
        piece = item + ("," if i < len(items) - 1 else "")
        if len(cur) + 1 + len(piece) > width and cur.strip():
            lines.append(cur)
            cur = "   "
        cur += " " + piece
    return [*lines, cur]


def _pass_rate_lines(buckets: dict) -> list[str]:
    """ "Pass rate (problem versions): 0: 3, 0.2-0.3: 1, 1: 12" (empty buckets left out)."""
    items = [f"{b}: {n}" for b, n in buckets.items() if n]
    return _wrap("Pass rate (problem versions):", items) if items else []


def _balance(m: dict) -> str:
    """ "correct 40 = merged 35 + filtered 4 + duplicates 1" (judge-accepted samples named)."""
    extra = m["considered"] - m["correct"]
    start = f"correct {m['correct']}" + (f" + judge {extra}" if extra else "")
    return (
        f"{start} = merged {m['merged']} + filtered {m['filtered']} + duplicates {m['duplicates']}"
    )


def _merge_lines(report: dict, max_listed: int) -> list[str]:
    """The merge block: what the filters dropped, per reason, per source x type; nothing before
    the first merge."""
    settings, m = report.get("merge"), report["totals"].get("merge")
    if not settings or not m:
        return []
    band = settings.get("pass_rate")
    filters = ",".join(settings.get("filters") or []) or "none"
    lines = [f"Merged: {_balance(m)}"]
    lines.extend(
        _wrap(
            "  kept by:",
            [f"filters {filters}", f"pass_rate {'-'.join(map(str, band)) if band else 'any'}",
             f"judge {settings.get('judge')}"],
        )
    )  # fmt: skip
    if m["by_reason"]:
        reasons = [f"{k} {v}" for k, v in m["by_reason"].items()]
        lines.extend(_wrap("  filtered:", reasons))
        listed = [r for r in report["rows"] if r.get("merge") and r["merge"]["filtered"]]
        for r in listed[:max_listed]:
            rm = r["merge"]
            lines.append(f"  {_short(r['source'])}/{r['type']}: {_balance(rm)}")
            lines.extend(_wrap("    by reason:", [f"{k} {v}" for k, v in rm["by_reason"].items()]))
        if len(listed) > max_listed:
            lines.append(f"  ... and {len(listed) - max_listed} more (see {_REPORT_NAME})")
        audit = Path(str(settings.get("audit_file")))
        lines.append(f"  each dropped sample and its reason: {audit.parent.name}/{audit.name}")
    if m.get("judge_recovered"):
        lines.append(
            f"  judge recovered {m['judge_recovered']} rule-rejected samples "
            + ("(merged)" if settings.get("judge") == "accept" else "(listed, not merged)")
        )
    return lines
