r"""Answer-checker throughput and latency on a generated mix of answers.

Builds N (default 6,000) (gold, response) pairs in the forms real exam data produces: choice
numbers (③, 3번, (3), 정답: ③), integers with units/separators/leading zeros, fractions and
decimals, radicals, Korean units, equations, tuples/sets, plus ~5% forms only SymPy can decide
(π, logs, trig) and ~2% adversarial inputs; about a third of the pairs are wrong. Every pair is
graded once with grade(); prints checks/s and p50/p99/max ms, overall and per family, and how
many verdicts disagree with the generator's label.

A second, symbolic-heavy mix (default 400 distinct pairs) holds only answers that need more than
exact arithmetic: polynomial identities, rational functions, trig and log values, equations,
relations, sets of expressions, matrices with symbolic entries and matrix arithmetic. Its figures
are printed on their own line, so a change to the SymPy step shows up there first.

Usage:
    python bench/bench_checker.py
    python bench/bench_checker.py --n 20000 --seed 7 --symbolic_n 1000
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

from sftkit.grading.symbolic import clear_cache  # noqa: E402
from validate_sft_data import Verdict, grade, validate_item, warm_up  # noqa: E402

CIRCLED = "①②③④⑤"


@dataclass(frozen=True)
class Case:
    family: str
    gold: object
    response: str
    expected: bool
    prompt: str | None = None  # a multiple-choice prompt: graded as a record (validate_item)


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
    # A number in hundreds of parentheses is still the number: peeled, not refused.
    return Case("adversarial", 1, _box(body, rng), body.startswith("(("))


def _no_box(rng: random.Random) -> Case:
    n = rng.randint(1, 99)
    return Case("no_box", n, f"풀이... 따라서 답은 {n}이다.", False)


def _choice_value(rng: random.Random) -> Case:
    """Multiple choice answered by the option's value: the right one is correct
    (match_choice_value), another option's value is wrong. Before MC by value every such
    correct answer was a false reject."""
    values = rng.sample([v for v in range(2, 60) if v % 7], 5)
    options = " ".join(f"\\item[{i}] $\\frac{{{v}}}{{7}}$" for i, v in enumerate(values, 1))
    prompt = f"값을 구하시오. \\begin{{itemize}} {options} \\end{{itemize}}"
    gold = rng.randint(1, 5)
    pick = gold if rng.random() < 0.7 else rng.choice([c for c in range(1, 6) if c != gold])
    v = values[pick - 1]
    body = rng.choice([f"\\frac{{{v}}}{{7}}", f"\\dfrac{{{v}}}{{7}}", f"{v}/7"])
    return Case("choice_value", gold, _box(body, rng), pick == gold, prompt)


FAMILIES = [
    (_choice, 30),
    (_choice_value, 4),
    (_integer, 25),
    (_fraction, 12),
    (_radical, 8),
    (_decimal, 6),
    (_structured, 7),
    (_no_box, 5),
    (_symbolic, 5),
    (_adversarial, 2),
]


# --- the symbolic-heavy mix: every pair needs SymPy (or the step in front of it) ---


def _poly(rng: random.Random) -> Case:
    a, b = rng.randint(-9, 9), rng.randint(1, 9)
    v = rng.choice("xyt")
    wrong = rng.random() < 0.35
    c = a * b + (rng.choice([-1, 1]) if wrong else 0)
    gold = f"({v}{a:+d})({v}+{b})"
    return Case("sym:poly", gold, _box(f"{v}^2{a + b:+d}{v}{c:+d}", rng), not wrong)


def _rational(rng: random.Random) -> Case:
    a = rng.randint(1, 9)
    wrong = rng.random() < 0.35
    gold = rf"\frac{{x^2-{a * a}}}{{x-{a}}}"
    return Case("sym:rational", gold, _box(f"x+{a + wrong}", rng), not wrong)


def _trig(rng: random.Random) -> Case:
    k = rng.choice([3, 4, 6])
    value = {3: r"\frac{\sqrt{3}}{2}", 4: r"\frac{\sqrt{2}}{2}", 6: r"\frac{1}{2}"}[k]
    wrong = rng.random() < 0.35
    fn = "cos" if wrong else "sin"
    shift = rng.randint(1, 6)
    body = rf"\{fn}\left(\frac{{\pi}}{{{k}}}+{2 * shift}\pi\right)"
    same = not wrong or k == 4
    return Case("sym:trig", value, _box(body, rng), same)


def _log(rng: random.Random) -> Case:
    b, n = rng.choice([2, 3, 5, 7]), rng.randint(2, 9)
    wrong = rng.random() < 0.35
    gold = rf"{n}\log {b}" if not wrong else rf"{n + 1}\log {b}"
    return Case("sym:log", gold, _box(rf"\log {b**n}", rng), not wrong)


def _equation(rng: random.Random) -> Case:
    a, b, c, k = rng.randint(1, 9), rng.randint(1, 9), rng.randint(-9, 9), rng.randint(2, 5)
    wrong = rng.random() < 0.35
    gold = f"{a}x+{b}y={c}"
    body = f"{k * a}x+{k * b}y-{k * c + wrong}=0".replace("--", "+")
    return Case("sym:equation", gold, _box(body, rng), not wrong)


def _relation(rng: random.Random) -> Case:
    a, k = rng.randint(1, 20), rng.randint(2, 6)
    wrong = rng.random() < 0.35
    op = ">" if not wrong else "<"
    return Case("sym:relation", f"y < {a}", _box(f"-{k}y {op} -{k * a}", rng), not wrong)


def _expr_set(rng: random.Random) -> Case:
    a, b = rng.randint(1, 9), rng.randint(10, 19)
    wrong = rng.random() < 0.35
    gold = rf"\{{x+{a}, {b}x\}}"
    body = rf"\{{{b}x, {a + wrong}+x\}}"
    return Case("sym:set", gold, _box(body, rng), not wrong)


def _sym_matrix(rng: random.Random) -> Case:
    a, b = rng.randint(1, 9), rng.randint(1, 9)
    wrong = rng.random() < 0.35
    gold = rf"\begin{{pmatrix}}{a}x & x^2\\ {b} & x+{a}\end{{pmatrix}}"
    body = rf"\begin{{pmatrix}}x\cdot{a} & x\cdot x\\ {b + wrong} & {a}+x\end{{pmatrix}}"
    return Case("sym:matrix", gold, _box(body, rng), not wrong)


def _matrix_sum(rng: random.Random) -> Case:
    a, b, c, d = (rng.randint(0, 9) for _ in range(4))
    wrong = rng.random() < 0.35
    gold = rf"\begin{{pmatrix}}{a + 1}&{b + 1}\\{c + 1}&{d + 1 + wrong}\end{{pmatrix}}"
    body = (
        rf"\begin{{pmatrix}}{a}&{b}\\{c}&{d}\end{{pmatrix}}"
        rf"+\begin{{pmatrix}}1&1\\1&1\end{{pmatrix}}"
    )
    return Case("sym:matrix_sum", gold, _box(body, rng), not wrong)


SYMBOLIC_FAMILIES = [
    _poly,
    _rational,
    _trig,
    _log,
    _equation,
    _relation,
    _expr_set,
    _sym_matrix,
    _matrix_sum,
]


def build_symbolic_cases(n: int, seed: int) -> list[Case]:
    """n distinct (gold, response) pairs from SYMBOLIC_FAMILIES in turn."""
    rng = random.Random(seed + 1)
    cases, seen = [], set()
    for _ in range(n * 50):
        if len(cases) == n:
            break
        case = SYMBOLIC_FAMILIES[len(cases) % len(SYMBOLIC_FAMILIES)](rng)
        if (case.gold, case.response) not in seen:
            seen.add((case.gold, case.response))
            cases.append(case)
    return cases


def build_cases(n: int, seed: int) -> list[Case]:
    rng = random.Random(seed)
    makers = [m for m, _ in FAMILIES]
    weights = [w for _, w in FAMILIES]
    return [rng.choices(makers, weights)[0](rng) for _ in range(n)]


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=6000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--symbolic_n", type=int, default=400, help="pairs in the symbolic mix")
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
        if case.prompt is None:
            verdict = grade(case.response, case.gold)
        else:
            item = {"solution": case.response, "answer": case.gold, "meta": {"prompt": case.prompt}}
            v = validate_item(item)
            verdict = Verdict(v["is_correct"], v["extracted_answer"], v["reason"])
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
        f"  max {max(typical):.1f} ms  checks/s {len(typical) / (sum(typical) / 1000):,.0f}"
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
    _symbolic_mix(args)
    return 0


def _symbolic_mix(args) -> None:
    cases = build_symbolic_cases(args.symbolic_n, args.seed)
    clear_cache()  # every pair is distinct; no verdict is left over from the first mix
    times: dict[str, list[float]] = defaultdict(list)
    wrong: dict[str, int] = defaultdict(int)
    reasons: dict[str, int] = defaultdict(int)
    cpu: list[float] = []  # on the main thread SymPy runs under an alarm, in this thread
    for case in cases:
        t0, c0 = time.perf_counter(), time.thread_time()
        verdict = grade(case.response, case.gold)
        times[case.family].append((time.perf_counter() - t0) * 1000)
        cpu.append((time.thread_time() - c0) * 1000)
        wrong[case.family] += verdict.is_correct != case.expected
        reasons[verdict.reason] += 1
    every = [t for ts in times.values() for t in ts]
    print()
    print(
        f"symbolic mix  cases {len(every)}  p50 {statistics.median(every):.3f} ms"
        f"  p99 {_pct(every, 0.99):.3f} ms  max {max(every):.1f} ms"
        f"  label disagreements {sum(wrong.values())}"
    )
    print(
        f"symbolic cpu  p50 {statistics.median(cpu):.3f} ms  p99 {_pct(cpu, 0.99):.3f} ms"
        f"  max {max(cpu):.1f} ms  (load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores)"
    )
    for fam, ts in sorted(times.items()):
        print(
            f"{fam:<16} {len(ts):>6} {statistics.median(ts):>8.3f} {_pct(ts, 0.99):>8.3f}"
            f" {max(ts):>8.1f} {wrong[fam]:>20}"
        )
    print("reasons:", dict(sorted(reasons.items())))


if __name__ == "__main__":
    sys.exit(main())
