r"""report.html at its worst: many sources x versions x grader reasons, every browsed sample a
long Korean reasoning trace. bench/bench_scale.py measures the page at 1M stored samples with
short texts; this one measures what bounds the page's size: the browsed text.

It writes `--sources` sources x 2 versions, each with `--reasons` grader reasons x `--per_reason`
graded samples (the browser shows up to 20 of each group), every sample with a Korean problem,
a `--trace_chars` reasoning and a long answer, then times write_report() and
write_report_html() and prints the page's size against the 20 MB target.

Usage:
    python bench/bench_report_html.py                        # 4 sources: 80 groups, 1,600 samples
    python bench/bench_report_html.py --sources 2 --per_reason 3 --trace_chars 2000   # quick
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from sftkit.common.jsonl import append_jsonl, atomic_write_jsonl  # noqa: E402
from sftkit.output import layout  # noqa: E402
from sftkit.output.formats import Conversation, add_answer_meta, render  # noqa: E402

TARGET_MB, TARGET_S = 20, 60
REASONS = ("match_exact", "match_numeric", "mismatch", "no_box", "unparseable", "timeout",
           "match_choice", "mismatch_choice", "error", "other")  # fmt: skip
KO = "함수 f(x)의 최댓값을 구하는 과정에서 도함수의 부호를 살펴보면 "  # 34 characters


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--sources", type=int, default=4, help="sources (%(default)s)")
    p.add_argument("--reasons", type=int, default=10, help="grader reasons per version (10)")
    p.add_argument("--per_reason", type=int, default=20, help="samples per reason (%(default)s)")
    p.add_argument("--trace_chars", type=int, default=40_000, help="reasoning length (40000)")
    p.add_argument("--root", default=None, help="where to build (a temporary folder)")
    return p.parse_args(argv)


def write_tree(out: Path, args) -> int:
    """The folder as the generator and the watcher leave it; returns the samples written."""
    trace = (KO * (args.trace_chars // len(KO) + 1))[: args.trace_chars]
    count = 0
    for src in range(args.sources):
        source = f"source_{src:02d}"
        for type_ in ("subjectives", "multiples"):
            for r, reason in enumerate(REASONS[: args.reasons]):
                for k in range(args.per_reason):
                    p, s = r * args.per_reason + k, 0
                    prompt = f"{KO * 20} ({source} {p})"
                    content = f"{KO * 60} \\boxed{{{p}}}"
                    meta = {"source": source, "type": type_, "problem_index": p,
                            "sample_index": s, "problem_id": f"{source}-{p}", "prompt": prompt,
                            "usage": {"prompt_tokens": 300, "completion_tokens": 30_000},
                            "reasoning": trace, "finish_reason": "stop"}  # fmt: skip
                    conv = Conversation(prompt=prompt, content=content, reasoning=trace)
                    record = add_answer_meta(render(conv, "messages", "think_tags"), "messages",
                                             p, meta)  # fmt: skip
                    path = layout.sample_path(out, source, type_, p, s)
                    atomic_write_jsonl(path, [record])
                    st = path.stat()
                    append_jsonl(layout.verdict_log(path.parent), {
                        "file": path.name, "is_correct": reason.startswith("match"),
                        "extracted_answer": str(p), "ground_truth": p, "reason": reason,
                        "mtime_ns": st.st_mtime_ns, "size": st.st_size,
                    })  # fmt: skip
                    count += 1
    return count


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    from sftkit.output.report import write_report
    from sftkit.output.report_html import write_report_html

    with tempfile.TemporaryDirectory(dir=args.root) as tmp:
        out = Path(tmp) / "out"
        t0 = time.monotonic()
        samples = write_tree(out, args)
        groups = args.sources * 2 * args.reasons
        print(f"bench_report_html: {samples:,} samples, {groups:,} source x version x reason "
              f"groups, {args.trace_chars:,}-character Korean traces (built in "
              f"{time.monotonic() - t0:.1f} s)")  # fmt: skip
        t0 = time.monotonic()
        report = write_report(out)
        t1 = time.monotonic()
        page = write_report_html(out, report, browse_samples=20)
        t2 = time.monotonic()
        text = page.read_text(encoding="utf-8")
        mb = os.path.getsize(page) / 1024 / 1024
        shown = text.count("<article ")
        ok_mb, ok_s = mb <= TARGET_MB, t2 - t1 <= TARGET_S
        print(f"  report.json: {t1 - t0:.1f} s")
        print(f"  report.html: {t2 - t1:.1f} s, {mb:.2f} MB, {shown:,} of "
              f"{min(samples, groups * 20):,} browsable samples shown (the text budget stops the "
              f"rest)  (target <= {TARGET_S} s: {'OK' if ok_s else 'MISSED'}; <= {TARGET_MB} MB: "
              f"{'OK' if ok_mb else 'MISSED'})")  # fmt: skip
    return 0 if ok_mb else 1


if __name__ == "__main__":
    sys.exit(main())
