r"""Answer-checker throughput and latency on a generated mix of answers.

Builds N (default 6,000) (gold, response) pairs in the forms real exam data produces: choice
numbers (③, 3번, (3), 정답: ③), integers with units/separators/leading zeros, fractions and
decimals, radicals, Korean units, equations, tuples/sets, plus ~5% forms only SymPy can decide
(π, logs, trig) and ~2% adversarial inputs; about a third of the pairs are wrong. Every pair is
graded once with grade(); prints checks/s and p50/p99/max ms, overall and per family, and how
many verdicts disagree with the generator's label.

Usage:
    python bench/bench_checker.py
    python bench/bench_checker.py --n 20000 --seed 7
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import time
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from validate_sft_data import grade, warm_up  # noqa: E402

CIRCLED = "①②③④⑤"


@dataclass(frozen=True)
class Case:
    family: str
    gold: object
    response: str
    expected: bool


def _box(body: str, rng: random.Random) -> str:
    lead = rng.choice(["따라서 ", "Therefore the answer is ", "정답은 ", ""])
    return f"{lead}풀이 과정... $x^2$ ... \\boxed{{{body}}}" + rng.choice(["", ".", " 입니다."])


def _choice(rng: random.Random) -> Case:
    gold = rng.randint(1, 5)
    pick = gold if rng.random() < 0.7 else rng.choice([c for c in range(1, 6) if c != gold])
    form = rng.choice(
        ["{n}", "{c}", "{n}번", "({n})", r"\text{{{c}}}", "정답: {c}", r"{c}\ \frac{{{n}}}{{7}}"]
    )
    body = form.format(n=pick, c=CIRCLED[pick - 1])
    return Case("choice", gold, _box(body, rng), pick == gold)


def _integer(rng: random.Random) -> Case:
    gold = rng.randint(0, 99_999)
    value = gold if rng.random() < 0.7 else gold + rng.choice([-10, -1, 1, 2, 100])
    forms = ["{v}", "0{v}", "{v}.0", r"{v}\text{{개}}", "{v}가지", r"{v}\,\mathrm{{cm}}", "x = {v}"]
    form = rng.choice(forms)
    if value >= 1000 and rng.random() < 0.3:
        body = f"{value:,}"
    else:
        body = form.format(v=value)
    return Case("integer", gold, _box(body, rng), value == gold)


def _fraction(rng: random.Random) -> Case:
    p, q = rng.randint(1, 40), rng.choice([2, 4, 5, 8, 10, 3, 6, 7, 9])
    gold = rf"\frac{{{p}}}{{{q}}}"
    wrong = rng.random() < 0.35
    pp = p + 1 if wrong else p
    forms = [rf"\dfrac{{{pp}}}{{{q}}}", f"{pp}/{q}", rf"\frac{{{2 * pp}}}{{{2 * q}}}"]
    if q in (2, 4, 5, 8, 10):
        forms.append(f"{pp / q:g}")
    return Case("fraction", gold, _box(rng.choice(forms), rng), not wrong or p / q == pp / q)


def _radical(rng: random.Random) -> Case:
    a, r = rng.randint(1, 9), rng.choice([2, 3, 5, 6, 7])
    gold = rf"{a}\sqrt{{{r}}}"
    wrong = rng.random() < 0.35
    b = a + 1 if wrong else a
    forms = [rf"{b}\sqrt{{{r}}}", rf"\sqrt{{{b * b * r}}}", rf"\frac{{{b * r}}}{{\sqrt{{{r}}}}}"]
    return Case("radical", gold, _box(rng.choice(forms), rng), not wrong)


def _decimal(rng: random.Random) -> Case:
    q = rng.choice([3, 7, 9, 11])
    p = rng.randint(1, q - 1)
    digits = rng.choice([2, 3, 6, 7])
    shown = f"{p / q:.{digits}f}"
    significant = len(shown.replace(".", "").lstrip("0"))
    return Case("decimal", rf"\frac{{{p}}}{{{q}}}", _box(shown, rng), significant >= 6)


def _structured(rng: random.Random) -> Case:
    a, b = rng.randint(-9, 9), rng.randint(-9, 9)
    swapped = rng.random() < 0.3 and a != b
    kind = rng.choice(["tuple", "set", "bogi"])
    if kind == "tuple":
        x, y = (b, a) if swapped else (a, b)
        return Case("structured", f"({a}, {b})", _box(rf"\left({x}, {y}\right)", rng), not swapped)
    if kind == "set":
        return Case("structured", rf"\{{{a}, {b}\}}", _box(rf"\{{{b},{a}\}}", rng), True)
    gold = "ㄱ, ㄷ"
    body = rng.choice(["ㄷ, ㄱ", "ㄱ,ㄷ", "ㄱ, ㄴ", "ㄴ, ㄷ"])
    return Case(
        "structured", gold, _box(body, rng), set(body.replace(" ", "").split(",")) == {"ㄱ", "ㄷ"}
    )


def _symbolic(rng: random.Random) -> Case:
    k, m = rng.randint(1, 12), rng.choice([2, 3, 4, 6])
    kind = rng.choice(["pi", "log", "trig"])
    if kind == "pi":
        wrong = rng.random() < 0.3
        return Case(
            "symbolic",
            rf"\frac{{{k}\pi}}{{{m}}}",
            _box(rf"\frac{{{k + wrong}}}{{{m}}}\pi", rng),
            not wrong,
        )
    if kind == "log":
        n = rng.randint(1, 9)
        return Case("symbolic", n, _box(rf"\log_{{2}} {2**n}", rng), True)
    return Case("symbolic", r"\frac{1}{2}", _box(r"\sin\frac{\pi}{6}", rng), True)


def _adversarial(rng: random.Random) -> Case:
    body = rng.choice(
        ["9^{9^{9^{9}}}", "(10^{100})!", "(" * 300 + "1" + ")" * 300, "1" * 5000, "{" * 5000]
    )
    return Case("adversarial", 1, _box(body, rng), False)


def _no_box(rng: random.Random) -> Case:
    n = rng.randint(1, 99)
    return Case("no_box", n, f"풀이... 따라서 답은 {n}이다.", False)


FAMILIES = [
    (_choice, 30),
    (_integer, 25),
    (_fraction, 12),
    (_radical, 8),
    (_decimal, 6),
    (_structured, 7),
    (_no_box, 5),
    (_symbolic, 5),
    (_adversarial, 2),
]


def build_cases(n: int, seed: int) -> list[Case]:
    rng = random.Random(seed)
    makers = [m for m, _ in FAMILIES]
    weights = [w for _, w in FAMILIES]
    return [rng.choices(makers, weights)[0](rng) for _ in range(n)]


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=6000)
    parser.add_argument("--seed", type=int, default=1)
    return parser.parse_args(argv)


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def main(argv=None) -> int:
    args = parse_args(argv)
    cases = build_cases(args.n, args.seed)
    warm_up()  # import SymPy and build the LaTeX parser once, outside the timing
    grade(r"\boxed{\sin\frac{\pi}{6}}", r"\frac{1}{2}")
    times: dict[str, list[float]] = defaultdict(list)
    cpu: list[float] = []  # CPU time per check: what the wall figures are when no one else runs
    wrong: dict[str, int] = defaultdict(int)
    reasons: dict[str, int] = defaultdict(int)
    start = time.perf_counter()
    cpu_start = time.process_time()
    for case in cases:
        t0, c0 = time.perf_counter(), time.thread_time()
        verdict = grade(case.response, case.gold)
        times[case.family].append((time.perf_counter() - t0) * 1000)
        cpu.append((time.thread_time() - c0) * 1000)
        wrong[case.family] += verdict.is_correct != case.expected
        reasons[verdict.reason] += 1
    elapsed = time.perf_counter() - start
    cpu_elapsed = time.process_time() - cpu_start
    every = [t for ts in times.values() for t in ts]
    typical = [t for fam, ts in times.items() if fam not in ("symbolic", "adversarial") for t in ts]
    print(
        f"cases: {len(cases)}  total time: {elapsed:.2f} s  checks/s: {len(cases) / elapsed:,.0f}"
    )
    print(
        f"all      p50 {statistics.median(every):.3f} ms  p99 {_pct(every, 0.99):.3f} ms"
        f"  max {max(every):.1f} ms"
    )
    print(
        f"cpu      p50 {statistics.median(cpu):.3f} ms  p99 {_pct(cpu, 0.99):.3f} ms"
        f"  checks per CPU-second {len(cases) / cpu_elapsed:,.0f}  (load average"
        f" {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores)"
    )
    print(
        f"typical  p50 {statistics.median(typical):.3f} ms  p99 {_pct(typical, 0.99):.3f} ms"
        f"  checks/s {len(typical) / (sum(typical) / 1000):,.0f}"
    )
    print(
        f"{'family':<12} {'n':>6} {'p50 ms':>8} {'p99 ms':>8} {'max ms':>8} {'label disagreements':>20}"
    )
    for fam, ts in sorted(times.items()):
        print(
            f"{fam:<12} {len(ts):>6} {statistics.median(ts):>8.3f} {_pct(ts, 0.99):>8.3f}"
            f" {max(ts):>8.1f} {wrong[fam]:>20}"
        )
    print("reasons:", dict(sorted(reasons.items())))
    return 0


if __name__ == "__main__":
    sys.exit(main())
