r"""The sample data: schema, exam-style shape, both itemize kinds, and golds that are really right.

The last group recomputes answers with sympy from the problem statements and compares them with
the gold option text, so a typo in data/sample_math.jsonl cannot slip through.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import sympy as sp
from latex2sympy2_extended import latex2sympy

from sftkit.inputs.problems import (
    MULTIPLE,
    SUBJECTIVE,
    build_versions,
    load_problems,
    load_sentences,
)

DATA = Path(__file__).resolve().parents[1] / "data"
MATH = DATA / "sample_math.jsonl"
SENTENCES = DATA / "sentences_ask_boxed.jsonl"
HANGUL = re.compile(r"[가-힣]")


@pytest.fixture(scope="module")
def raw():
    return [
        json.loads(line) for line in MATH.read_text(encoding="utf-8").splitlines() if line.strip()
    ]


@pytest.fixture(scope="module")
def problems():
    return load_problems(MATH)


# --- schema and shape ---


def test_schema_and_count(raw, problems):
    assert len(raw) >= 30
    assert len(problems) == len(raw)
    for obj in raw:
        assert set(obj) == {"id", "name", "problem", "answer", "score", "review"}
        assert isinstance(obj["answer"], int)
    assert len({obj["id"] for obj in raw}) == len(raw)


def test_number_prefix_and_score_tag_match_score(raw):
    for n, obj in enumerate(raw, 1):
        assert obj["problem"].startswith(f"{n}. "), obj["id"]
        tags = re.findall(r"\[(\d)점\]", obj["problem"])
        assert tags == [str(obj["score"])], obj["id"]
        assert HANGUL.search(obj["problem"]), obj["id"]


def test_about_two_thirds_are_five_choice(problems):
    multiple = [p for p in problems if p.choices is not None]
    assert all(len(p.choices) == 5 for p in multiple)
    assert 0.55 <= len(multiple) / len(problems) <= 0.75
    short = [p for p in problems if p.choices is None]
    assert all(isinstance(p.answer, int) for p in short)


def test_golds_in_range_and_spread(problems):
    golds = [p.answer for p in problems if p.choices is not None]
    assert all(1 <= g <= 5 for g in golds)
    assert set(golds) == {1, 2, 3, 4, 5}, "every choice number should be the answer somewhere"


def test_option_values_use_latex(problems):
    options = " ".join(" ".join(p.choices) for p in problems if p.choices)
    for needle in (r"\frac", r"\sqrt", r"\log", r"\pi"):
        assert needle in options, needle


def test_inline_and_display_math_with_literal_parentheses(problems):
    texts = [p.text for p in problems]
    assert sum(r"\(" in t and r"\)" in t for t in texts) >= 3
    assert sum(r"\[" in t and r"\]" in t for t in texts) >= 2
    assert sum("(단," in t for t in texts) >= 3


def test_condition_lists_are_kept_in_both_versions(problems):
    with_conditions = [p for p in problems if r"\item[(가)]" in p.text]
    assert len(with_conditions) >= 3
    assert any(p.choices is None for p in with_conditions)
    for p in with_conditions:
        for v in build_versions(p):
            assert r"\item[(가)]" in v.body and r"\item[(나)]" in v.body


def test_bogi_statements_sit_in_their_own_block_before_the_choices(problems):
    bogi = [p for p in problems if r"\item[ㄱ.]" in p.text]
    assert len(bogi) >= 3
    for p in bogi:
        assert p.choices is not None
        assert p.text.index(r"\item[ㄷ.]") < p.text.index(r"\item[1]")
        assert all(re.fullmatch(r"[ㄱㄴㄷ](, [ㄱㄴㄷ])*", c) for c in p.choices), p.choices
        subjective, multiple = build_versions(p)
        assert r"\item[ㄱ.]" in subjective.body and r"\item[1]" not in subjective.body
        assert re.fullmatch(r"[ㄱㄴㄷ](, [ㄱㄴㄷ])*", subjective.gold)
        assert multiple.gold == p.answer


def test_versions_have_sensible_golds(problems):
    for p in problems:
        subjective, multiple = build_versions(p)
        assert (subjective.type, multiple.type) == (SUBJECTIVE, MULTIPLE)
        assert not re.match(r"\d+\.", subjective.body) and "점]" not in subjective.body
        if p.choices is None:
            assert subjective.gold == multiple.gold == p.answer
            assert subjective.body == multiple.body
        else:
            assert subjective.gold == p.choices[p.answer - 1]
            assert r"\begin{itemize}" not in subjective.body or r"\item[1]" not in subjective.body
            assert r"\item[5]" in multiple.body


def test_sentences_ask_for_a_box_in_korean_and_english():
    sentences = load_sentences(SENTENCES)
    assert len(sentences) >= 12
    assert all(r"\boxed{" in s for s in sentences)
    korean = [s for s in sentences if HANGUL.search(s)]
    assert len(korean) >= 4 and len(sentences) - len(korean) >= 4


# --- golds are really right: recompute with sympy ---

x, t, k = sp.symbols("x t k")


def _value(latex: str) -> sp.Expr:
    inner = re.sub(r"^\$|\$$|^\\\(|\\\)$", "", latex.strip())
    return latex2sympy(inner)


def _choose(n, r):
    return sp.binomial(n, r)


def _distance(v, lo, hi):
    """Total distance: |integral| over the pieces between sign changes of v (no Abs: sympy hangs)."""
    cuts = sorted({lo, hi, *[r for r in sp.solve(v, t) if lo < r < hi]})
    return sum(abs(sp.integrate(v, (t, a, b))) for a, b in zip(cuts, cuts[1:], strict=False))


# problem number -> the answer recomputed from the statement
RECOMPUTED = {
    1: sp.Rational(1, 2) ** -2 * sp.Integer(8) ** sp.Rational(1, 3),
    2: sp.log(12, 2) - sp.log(3, 2),
    3: sp.diff(x**3 - 2 * x**2 + 5, x).subs(x, 2),
    4: sp.limit((x**2 - 4) / (x**2 - x - 2), x, 2),
    5: sp.Rational(3, 5) / sp.sqrt(1 - sp.Rational(3, 5) ** 2),
    6: 5 + (10 - 2) * sp.Rational(14 - 5, 3),
    7: sp.sqrt(12) + sp.sqrt(27) - sp.sqrt(3),
    8: 12 * sp.pi / (sp.Rational(1, 2) * 6**2),
    9: sp.log(6, 3) - 1,
    10: sp.integrate(3 * x**2 - 2 * x + 1, (x, 0, 2)),
    11: _choose(3, 2) / _choose(7, 2),
    16: (4 - 1) * 2 * sp.pi / sp.Rational(1, 2),
    17: sp.Rational(6, 4),
    18: 2 * sp.sqrt(2) ** 3,
    19: sum(sp.solveset(2 * sp.cos(x) + 1, x, sp.Interval.Ropen(0, 2 * sp.pi))),
    20: sp.log(2, 3) + sp.log(sp.Rational(9, 2), 3),
    21: (x**2 + 3 * x).subs(x, 1) - sp.diff(x**2 + 3 * x, x).subs(x, 1) * 1,
    23: sp.summation(2 * k + 1, (k, 1, 10)),
    24: max((2 * x**3 - 3 * x**2 - 12 * x + 5).subs(x, r) for r in (-1, 2)),
    26: [r for r in sp.solve(k**2 - (k + 6), k) if r > 0][0],
    28: 3 * sp.integrate(4 * x - x**2, (x, 0, 4)),
    29: sp.Poly((x + 2) ** 5, x).coeff_monomial(x**3),
    30: sp.log(48, 2) - sp.log(3, 2) + sp.log(27, 3),
    31: _distance(3 * t**2 - 6 * t, 0, 3),
    33: sum(3 * 2**i for i in range(5)),
}


def _recurrence_a5():
    a = 1
    for _ in range(4):
        a = 2 * a + 1
    return a


def _odd_three_digit_numbers():
    from itertools import permutations

    return sum(1 for d in permutations(range(1, 6), 3) if d[2] % 2)


def _quadratic_conditions_f7():
    a, b, c = sp.symbols("a b c")
    f = a * x**2 + b * x + c
    vertex = -b / (2 * a)
    sols = sp.solve(
        [f.subs(x, 1) - f.subs(x, 5), f.subs(x, vertex) + 4, f.subs(x, 0) - 5], [a, b, c], dict=True
    )
    (sol,) = [s for s in sols if s[a] > 0]
    return f.subs(sol).subs(x, 7)


def _polynomial_conditions_f1():
    # (가) forces degree 2 with leading coefficient 2; (나) fixes f(0) and f'(0).
    b, c = sp.symbols("b c")
    f = 2 * x**2 + b * x + c
    sol = sp.solve([f.subs(x, 0) - 1, sp.diff(f, x).subs(x, 0) - 3], [b, c])
    return f.subs(sol).subs(x, 1)


RECOMPUTED.update(
    {
        12: _polynomial_conditions_f1(),
        22: _recurrence_a5(),
        25: _odd_three_digit_numbers(),
        27: _quadratic_conditions_f7(),
        32: sp.solve(sp.Eq(1 + sp.Symbol("a"), 3 * 1 + 5))[0],
    }
)


def _bogi_truths():
    f13 = x**2 - 4 * x + 3
    f15 = x**3 - 3 * x
    a, b = sp.Rational(3, 7), sp.Rational(5, 2)  # a witness pair for "always true" claims
    return {
        13: [
            f13.subs(x, 1) == 0,
            sp.minimum(f13, x, sp.S.Reals) == -2,
            sum(sp.solveset(f13 - 3, x, sp.S.Reals)) == 4,
        ],
        14: [
            sp.simplify(sp.log(a * b, 2) - sp.log(a, 2) - sp.log(b, 2)) == 0,
            sp.simplify(sp.log(a + b, 2) - sp.log(a, 2) * sp.log(b, 2)) == 0,
            sp.simplify(sp.log(a, 4) - 2 * sp.log(a, 2)) == 0,
        ],
        15: [
            sp.expand(f15.subs(x, -x) + f15) == 0,
            sp.diff(f15, x).subs(x, 1) == 0
            and sp.diff(f15, x, 2).subs(x, 1) > 0
            and f15.subs(x, 1) == -2,
            len(sp.solveset(f15 - 2, x, sp.S.Reals)) == 3,
        ],
    }


@pytest.mark.parametrize("number", [13, 14, 15])
def test_bogi_gold_lists_exactly_the_true_statements(problems, number):
    truths = _bogi_truths()[number]
    expected = ", ".join(letter for letter, ok in zip("ㄱㄴㄷ", truths, strict=True) if ok)
    assert build_versions(problems[number - 1])[0].gold == expected


@pytest.mark.parametrize("number", sorted(RECOMPUTED))
def test_gold_matches_recomputed_answer(problems, number):
    problem = problems[number - 1]
    gold = build_versions(problem)[0].gold
    value = _value(gold) if isinstance(gold, str) else sp.Integer(gold)
    assert abs(sp.N(value - RECOMPUTED[number])) < 1e-9, (number, gold)
