"""The end of a run: (judge,) merge the validated samples and print the report.

merge_and_report(out, "messages", "think_tags", None) -> True unless the merge itself failed
(the samples stay safe on disk); a Selection says which correct samples the merge keeps.
"""

from __future__ import annotations

import logging

from sftkit.grading.judge import JudgeConfig
from sftkit.output import judging, merge, report
from sftkit.output.selection import DEFAULT_SELECTION, Selection

log = logging.getLogger("generate")


def merge_and_report(
    output_dir: str,
    fmt: str,
    reasoning: str,
    system: str | None,
    selection: Selection = DEFAULT_SELECTION,
    judge: JudgeConfig | None = None,
) -> bool:
    """(Judge the rule-rejected samples,) merge validated samples and print the report; True
    unless the merge itself failed. The judge fails safe: its errors leave the rule verdicts."""
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
        figures = report.write_report(output_dir)
        log.info("merged: %s", stats)
        print(report.format_report(figures), flush=True)
    except Exception as exc:  # the samples are safe on disk; report and keep the exit code honest
        log.error("merge failed: %s: %s", type(exc).__name__, exc)
        return False
    return True
