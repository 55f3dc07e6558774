"""The end of a run: merge the validated samples, then write what a reader looks at.

Pipeline order: merge_outputs() (a Selection says which correct samples it keeps) ->
export_parquet() (--export parquet) -> write_report() (report.json) -> write_report_html()
(report.html) -> write_card() (merged/README.md).

Usage:
    merge_and_report("sft_output", "messages", "think_tags", None)               # -> True
    merge_and_report("sft_output", "messages", "think_tags", None, browse_samples=5,
                     export_formats=("parquet",))  # also merged/*_messages.parquet, in the card

True unless a step failed; a failed step is logged with what it was writing, and the steps after
it still run (the samples stay safe on disk; a page that could not be drawn loses no data).
"""

from __future__ import annotations

import logging
from collections import Counter

from sftkit.grading.judge import JudgeConfig
from sftkit.output import card, export, judging, merge, report, report_data
from sftkit.output.report_html import write_report_html
from sftkit.output.selection import DEFAULT_SELECTION, Selection

log = logging.getLogger("generate")


def merge_and_report(
    output_dir: str,
    fmt: str,
    reasoning: str,
    system: str | None,
    selection: Selection = DEFAULT_SELECTION,
    judge: JudgeConfig | None = None,
    *,
    browse_samples: int = 20,
    export_formats: tuple[str, ...] = (),
) -> bool:
    """(Judge the rule-rejected samples,) merge validated samples, write report.json,
    report.html and the dataset card, and print the report; True unless a step failed. The judge
    fails safe: its errors leave the rule verdicts."""
    try:
        if judge is not None:
            counts = judging.judge_output(output_dir, judge, selection)
            log.info(
                "judge %s: asked %d (yes %d, no %d, errors %d), %d judged before",
                judge.model, counts["asked"], counts["yes"], counts["no"], counts["errors"],
                counts["cached"],
            )  # fmt: skip
            if counts["errors"]:
                log.warning(
                    "judge: %d request(s) failed; their rule verdicts stand (rerun the merge to "
                    "ask again; the errors are in <source>/<type>_judge.jsonl)",
                    counts["errors"],
                )
        stats = merge.merge_outputs(output_dir, fmt, reasoning, system, selection)
        log.info("merged: %s", stats)
    except Exception as exc:  # the samples are safe on disk; report and keep the exit code honest
        log.error("merge failed: %s: %s", type(exc).__name__, exc)
        return False
    ok = True
    if "parquet" in export_formats:
        ok &= _step("parquet export", export.export_parquet, stats.outputs)
    try:
        figures = report.write_report(output_dir)
    except Exception as exc:
        log.error("report.json failed: %s: %s", type(exc).__name__, exc)
        return False  # the page and the card are drawn from it
    try:
        data = report_data.collect(output_dir, figures, browse_samples)
    except Exception as exc:
        log.error("report.html: reading the verdicts failed: %s: %s", type(exc).__name__, exc)
        data, ok = None, False
    if data is not None:
        ok &= _step("report.html", write_report_html, output_dir, figures, data=data, merge=stats)
    rejected = Counter()
    for t in data.types if data else ():
        rejected.update({r: n for r, n in t.reasons.items() if r not in t.accepting})
    ok &= _step("dataset card", card.write_card, output_dir, figures, stats, rejected)
    print(report.format_report(figures), flush=True)
    return ok


def _step(what: str, write, *args, **kwargs) -> bool:
    """Run one writer after the merge; log what it wrote, or why it failed (False)."""
    try:
        written = write(*args, **kwargs)
    except Exception as exc:  # the merged data stays; this page or file is missing, said why
        log.error("%s failed: %s: %s", what, type(exc).__name__, exc)
        return False
    if isinstance(written, list):
        written = ", ".join(str(p) for p in written) or "nothing to write"
    log.info("%s: %s", what, written)
    return True
