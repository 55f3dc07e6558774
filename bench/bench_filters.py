r"""The merge's filters on our own samples: the language_mix threshold measured, and what each
filter costs per sample.

language_mix drops a solution whose letters of a script foreign to the problem (Han in a Korean
or English solution, Hangul in an English one) are at least MIN_FOREIGN_LETTERS and more than
MAX_FOREIGN_SHARE of its letters outside math. This script measures, on texts we wrote or our
stand-in produced, how many foreign letters clean solutions carry and how many a mixed one does:

  clean   the stand-in's replies to every bundled problem (Korean problems answered in Korean,
          English or both; --replies per problem version, none of its quirks), the bundled
          data's Korean reference solutions (`review`), and English solutions that name a Korean
          or a Chinese term, written here;
  mixed   the same clean texts with one Chinese sentence put in (what the stand-in's `mix`
          quirk and a drifting model do), and English solutions with a Korean sentence.

It prints, per set, the largest foreign count and share among clean texts and the smallest among
mixed ones, then a sweep of thresholds: clean texts dropped (false drops) and mixed ones kept
(misses). Finally the time first_reason() takes per sample with every filter on.

Usage:
    python bench/bench_filters.py
    python bench/bench_filters.py --replies 50 --repeat 3
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from sftkit.demo.mock_model import MockConfig, MockModel, compose  # noqa: E402
from sftkit.grading.compare import check_answer  # noqa: E402
from sftkit.output.filters import (  # noqa: E402
    FILTERS,
    MAX_FOREIGN_SHARE,
    MIN_FOREIGN_LETTERS,
    FilterConfig,
    Sample,
    first_reason,
    foreign_letters,
)

EN_PROBLEM = "Solve for $x$: $3x - 7 = 11$. Put the final answer in \\boxed{}."
ZH_SENTENCE = "我们再仔细检查一下这个计算过程，确保每一步都正确无误，然后得出最终的结论。"
KO_SENTENCE = "이제 양변을 3으로 나누면 구하는 값을 얻을 수 있으므로 답은 다음과 같다."
# English solutions that name a term in another script: kept by a good threshold.
EN_WITH_TERMS = [
    "Add 7 to both sides: $3x = 18$. In Korean textbooks this is a 일차방정식 (linear "
    "equation). Divide by 3: $x = \\boxed{6}$.",
    "This is what Korean exams call 항등식 versus 방정식: here only one $x$ works. "
    "$3x = 18$, so $x = \\boxed{6}$.",
    "Move the constant (이항, transposition): $3x = 11 + 7 = 18$, hence $\\boxed{6}$.",
    "The coefficient (계수) of $x$ is 3 and the constant term (상수항) is $-7$. "
    "So $3x = 18$ and $x = \\boxed{6}$.",
    "In Chinese this is 一元一次方程. Then $3x = 18$ and $x = \\boxed{6}$.",
    "Step 1: $3x - 7 + 7 = 11 + 7$. Step 2: $3x = 18$. Step 3: $x = 6$. "
    "(정답: 6) The answer is $\\boxed{6}$.",
]


def demo_samples(replies: int) -> list[Sample]:
    """The stand-in's replies (correct, wrong, with and without reasoning) to every bundled
    problem version, as the filters see them."""
    model = MockModel(MockConfig(data_dir=str(REPO / "data")))
    rng = random.Random(0)
    found = []
    for entry in model.book.entries:
        prompt = entry.version.body
        for _ in range(replies):
            r = compose(entry, model.cfg, rng, think=rng.random() < 0.5)
            found.append(Sample(r.content, r.reasoning, r.content, "stop", None, None, prompt))
    return found


def text_sample(prompt: str, answer: str) -> Sample:
    return Sample(answer, None, answer, "stop", None, None, prompt)


def review_samples() -> list[Sample]:
    """The bundled Korean problems with their Korean reference solutions."""
    found = []
    for path in sorted((REPO / "data").glob("*_math.jsonl")):
        for line in path.read_text(encoding="utf-8").splitlines():
            row = json.loads(line)
            if row.get("review"):
                found.append(text_sample(row["problem"], row["review"]))
    return found


def with_sentence(s: Sample, sentence: str) -> Sample:
    """The same sample with one sentence of another language before its last paragraph."""
    head, _, tail = s.answer.rpartition("\n")
    answer = f"{head}\n{sentence}\n{tail}" if head else f"{sentence}\n{tail}"
    return Sample(answer, s.reasoning, answer, "stop", None, None, s.prompt)


def figures(samples: list[Sample]) -> list[tuple[int, float]]:
    out = []
    for s in samples:
        foreign, total = foreign_letters(s)
        out.append((foreign, foreign / total if total else 0.0))
    return out


def drops(figs, min_letters: int, share: float) -> int:
    return sum(f >= min_letters and sh > share for f, sh in figs)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument(
        "--replies", type=int, default=20, help="stand-in replies per version (%(default)s)"
    )
    p.add_argument("--repeat", type=int, default=3, help="timing rounds (%(default)s)")
    args = p.parse_args()

    demo = demo_samples(args.replies)
    reviews = review_samples()
    english = [text_sample(EN_PROBLEM, t) for t in EN_WITH_TERMS]
    clean = {"demo samples": demo, "data reviews (ko)": reviews, "en + terms": english}
    mixed = {
        "demo + zh sentence": [with_sentence(s, ZH_SENTENCE) for s in demo],
        "reviews + zh sentence": [with_sentence(s, ZH_SENTENCE) for s in reviews],
        "en + ko sentence": [with_sentence(s, KO_SENTENCE) for s in english],
    }
    print(f"language_mix now: >= {MIN_FOREIGN_LETTERS} foreign letters and > {MAX_FOREIGN_SHARE}")
    print(f"{'set':24} {'n':>5} {'foreign max/min':>16} {'share max/min':>14}")
    for name, samples in clean.items():
        figs = figures(samples)
        print(
            f"{name:24} {len(figs):5} {max(f for f, _ in figs):>12} max {max(s for _, s in figs):>10.3f} max"
        )
    for name, samples in mixed.items():
        figs = figures(samples)
        print(
            f"{name:24} {len(figs):5} {min(f for f, _ in figs):>12} min {min(s for _, s in figs):>10.3f} min"
        )
    clean_figs = [f for samples in clean.values() for f in figures(samples)]
    mixed_figs = [f for samples in mixed.values() for f in figures(samples)]
    print(f"sweep: false drops of {len(clean_figs)} clean / misses of {len(mixed_figs)} mixed")
    for min_letters in (1, 5, 10, 20, 30, 40):
        cells = []
        for share in (0.0, 0.01, 0.05, 0.1, 0.2):
            fd = drops(clean_figs, min_letters, share)
            miss = len(mixed_figs) - drops(mixed_figs, min_letters, share)
            cells.append(f"{share:>4}: {fd:>3}/{miss:<3}")
        print(f"  >= {min_letters:2} letters  " + "  ".join(cells))

    cfg = FilterConfig(enabled=FILTERS, max_completion_tokens=32768)
    everything = demo + [s for m in mixed.values() for s in m]
    times = []
    for _ in range(args.repeat):
        t0 = time.perf_counter()
        reasons = [first_reason(s, cfg, same=check_answer) for s in everything]
        times.append((time.perf_counter() - t0) / len(everything))
    dropped = {r: reasons.count(r) for r in FILTERS if reasons.count(r)}
    print(
        f"first_reason, every filter on: {1e6 * statistics.median(times):.0f} us/sample "
        f"(median of {args.repeat}, {len(everything)} samples); drops {dropped}"
    )


if __name__ == "__main__":
    main()
