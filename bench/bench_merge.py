r"""Merge and report speed on a large output tree: both must read each file once and stay linear.

Builds `<tmp>/out` with N sample files (2 sources x 2 types x N/40 problems x 10 samples, about
half correct, ~3 KB of reasoning each), then times build_report() and merge_outputs() against a
bare loop that only opens and reads the same files (the floor), at N/10 and N files.

Usage:
    python bench/bench_merge.py            # N = 50000
    python bench/bench_merge.py --n 5000
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sftkit.output.filters import FilterConfig  # noqa: E402
from sftkit.output.formats import Conversation, add_answer_meta, render  # noqa: E402
from sftkit.output.merge import merge_outputs  # noqa: E402
from sftkit.output.report import build_report  # noqa: E402
from sftkit.output.selection import Selection  # noqa: E402

# ~3 KB, a short real reasoning trace; every step differs, so the repetition filter keeps it.
REASONING = " ".join(
    f"Step {i}: multiply both sides by {i + 2}, then subtract {3 * i + 1} to isolate x."
    for i in range(45)
)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=50000, help="sample files in the large tree")
    return parser.parse_args()


def build_tree(out: Path, n: int) -> None:
    problems = max(1, n // 40)
    for source in ("a_math", "b_math"):
        for type_ in ("subjectives", "multiples"):
            sample_dir, valid_dir = out / source / type_, out / source / f"{type_}_validated"
            sample_dir.mkdir(parents=True)
            valid_dir.mkdir(parents=True)
            verdicts = []
            for p in range(problems):
                for s in range(10):
                    prompt = f"{source} {type_} problem {p} sample {s}: 다음을 구하시오."
                    conv = Conversation(prompt, f"\\boxed{{{p % 5 + 1}}}", REASONING)
                    meta = {
                        "source": source, "problem_index": p, "problem_id": str(p),
                        "type": type_, "sample_index": s,
                        "generation_id": f"{source}/{type_}/{p}_{s}", "model": "m",
                        "prompt": prompt, "finish_reason": "stop", "truncated": False,
                        "usage": {"prompt_tokens": 100, "completion_tokens": 900},
                        "reasoning": REASONING, "format": "messages",
                        "reasoning_mode": "think_tags", "created": 0.0,
                    }  # fmt: skip
                    rec = add_answer_meta(render(conv, "messages"), "messages", p % 5 + 1, meta)
                    line = json.dumps(rec, ensure_ascii=False) + "\n"
                    name = f"{p}_{s}.jsonl"
                    (sample_dir / name).write_text(line, encoding="utf-8")
                    correct = (p + s) % 2 == 0
                    if correct:
                        (valid_dir / name).write_text(line, encoding="utf-8")
                    verdicts.append(
                        json.dumps(
                            {
                                "file": name,
                                "problem_index": p,
                                "sample_index": s,
                                "is_correct": correct,
                                "reason": "match_choice",
                            }
                        )  # fmt: skip
                    )
            (out / source / f"{type_}_verdicts.jsonl").write_text("\n".join(verdicts) + "\n")


def bare_read(out: Path, validated: bool) -> int:
    """The floor: open and read once each file a phase must read (samples, or validated copies)."""
    count = 0
    for root, _, files in os.walk(out):
        if root.endswith("_validated") != validated:
            continue
        for name in files:
            if name.endswith(".jsonl") and not name.endswith("_verdicts.jsonl"):
                with open(os.path.join(root, name), encoding="utf-8") as fh:
                    fh.read()
                count += 1
    return count


def timed(fn, *args) -> tuple[float, object]:
    start = time.perf_counter()
    result = fn(*args)
    return time.perf_counter() - start, result


def measure(n: int) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "out"
        build_tree(out, n)
        bare_read(out, False)  # warm the page cache so every timing below reads from memory
        bare_read(out, True)
        t_floor_report, files = timed(bare_read, out, False)
        t_floor_merge, _ = timed(bare_read, out, True)
        t_report, report = timed(build_report, out)
        none = Selection(filters=FilterConfig(enabled=()))
        t_bare_merge, _ = timed(merge_outputs, out, "messages", "think_tags", None, none)
        t_merge, stats = timed(merge_outputs, out, "messages", "think_tags")
        assert report["totals"]["samples"] == files == n and stats.written == stats.files_read
        return {
            "n": n,
            "validated": stats.files_read,
            "floor_report": t_floor_report,
            "floor_merge": t_floor_merge,
            "report": t_report,
            "merge": t_merge,
            "merge_no_filters": t_bare_merge,
        }


def main() -> int:
    args = parse_args()
    small, large = measure(max(40, args.n // 10)), measure(args.n)
    for m in (small, large):
        print(
            f"n={m['n']:>6}: build_report {m['report']:.2f} s "
            f"({m['report'] / m['floor_report']:.1f}x a bare read of the {m['n']} sample files), "
            f"merge_outputs {m['merge']:.2f} s "
            f"({m['merge'] / m['floor_merge']:.1f}x a bare read of the {m['validated']} validated; "
            f"{m['merge_no_filters']:.2f} s with --filters none)"
        )
    scale = large["n"] / small["n"]
    for key in ("report", "merge"):
        grow = large[key] / small[key]
        floor = large[f"floor_{key}"] / small[f"floor_{key}"]
        # Linear work grows by the size ratio, quadratic by its square; the bare read of the same
        # files shows how much of the growth the file system alone accounts for.
        print(
            f"{key}: {scale:.0f}x more samples -> {grow:.1f}x the time "
            f"(linear = {scale:.0f}x, quadratic = {scale * scale:.0f}x; bare read grew {floor:.1f}x)"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
