r"""The stand-in's fake model without HTTP: answer renderings, the answer book, the config, and
the faults and replies of one request.

Answers are checked independently of the model's own rendering tables: a boxed answer is parsed
with latex2sympy2_extended (values), circled/번/(k) forms (choices) or jamo sets (보기) and
compared with the gold of the problem the prompt was built from. test_mock_server.py checks the
answers that come over HTTP with the same checker (`boxed`, `same`).
"""

from __future__ import annotations

import functools
import re
from pathlib import Path

import pytest
import sympy as sp
from latex2sympy2_extended import latex2sympy

from sftkit.demo.mock_model import AnswerBook, MockConfig, MockModel, strip_math, value_renderings
from sftkit.inputs.problems import build_prompt, stable_hash

REPO = Path(__file__).resolve().parents[1]
DATA = REPO / "data"
CIRCLED = "①②③④⑤"


# --- an independent checker for what the model claims is correct ---


def boxed(text: str) -> str | None:
    r"""Content of the last \boxed{...}, nested braces included: "a \boxed{\frac{1}{2}}" -> "\frac{1}{2}"."""
    start = text.rfind("\\boxed{")
    if start == -1:
        return None
    i, depth = start + len("\\boxed{"), 1
    for j in range(i, len(text)):
        depth += {"{": 1, "}": -1}.get(text[j], 0)
        if depth == 0:
            return text[i:j]
    return None


def as_choice(ans: str) -> int | None:
    s = re.sub(r"^\\text\{(.*)\}$", r"\1", ans.strip()).strip()
    s = s.removesuffix("번").strip().removeprefix("(").removesuffix(")")
    if s in CIRCLED:
        return CIRCLED.index(s) + 1
    return int(s) if s.isdigit() else None


@functools.lru_cache(maxsize=4096)
def as_value(ans: str):
    s = re.sub(r"^\$|\$$|^\\\(|\\\)$", "", ans.strip())
    if re.fullmatch(r"(\\text\{)?[ㄱ-ㅎ](\s*,\s*[ㄱ-ㅎ])*\}?", s):
        return frozenset(re.findall(r"[ㄱ-ㅎ]", s))
    s = re.sub(r"\\text\{[^{}]*[가-힣][^{}]*\}", "", s)  # units such as \text{개}
    s = s.replace("\\dfrac", "\\frac")
    s = re.sub(r"\\frac(\d)(\d)", r"\\frac{\1}{\2}", s)
    s = re.sub(r"\\sqrt(\d)", r"\\sqrt{\1}", s)
    return latex2sympy(s)


def same(answer: str, version) -> bool:
    """Does `answer` represent the gold of `version`?"""
    if version.type == "multiples" and version.problem.choices is not None:
        options = [strip_math(c) for c in version.problem.choices]
        if answer in options and not re.fullmatch(r"\(?[0-9]\)?", answer):
            # An option's value names that option (MC by value); a bare digit is a number.
            return options.index(answer) + 1 == version.gold
        return as_choice(answer) == version.gold
    got, want = as_value(answer), as_value(str(version.gold))
    if isinstance(want, frozenset) or isinstance(got, frozenset):
        return got == want
    return abs(complex(sp.N(got - want))) < 1e-9


# --- renderings ---


@pytest.mark.parametrize(
    "gold, expected",
    [
        # --- fractions ---
        (r"$\frac{3}{4}$", {r"\frac{3}{4}", r"\dfrac{3}{4}", "3/4", r"\dfrac34", "0.75"}),
        (r"\(\frac{3}{2}\)", {r"\frac{3}{2}", "3/2", "1.5"}),
        (r"$\frac{2\pi}{3}$", {r"\frac{2\pi}{3}", r"2\pi/3"}),
        # --- radicals and logs ---
        (r"$4\sqrt{3}$", {r"4\sqrt{3}", r"4\sqrt3", r"\sqrt{48}"}),
        (r"$\log_3 2$", {r"\log_3 2", r"\log_{3}{2}"}),
        # --- integers and 보기 ---
        (36, {"36"}),
        ("ㄱ, ㄷ", {"ㄱ, ㄷ", "ㄱ,ㄷ", r"\text{ㄱ, ㄷ}"}),
    ],
)
def test_value_renderings_include(gold, expected):
    assert expected <= set(value_renderings(gold))


def test_every_rendering_of_every_gold_is_equivalent(versions):
    book = AnswerBook.load(DATA)
    assert len(book.entries) == len(versions)
    for entry in book.entries:
        for answer in entry.correct:
            assert same(answer, entry.version), (entry.version.problem.id, answer)
        for wrong in entry.wrong:  # renderings of one wrong value are alike: check the first
            assert not same(wrong[0], entry.version), (entry.version.problem.id, wrong)


def test_counts_get_a_unit():
    assert r"36\text{개}" in value_renderings(36, "홀수의 개수를 구하시오.")


# --- config ---


def test_bad_config_is_rejected():
    with pytest.raises(ValueError, match="reasoning"):
        MockConfig(reasoning="think")
    with pytest.raises(ValueError, match="script"):
        MockConfig(script=("teapot",))
    with pytest.raises(ValueError, match="p_correct"):
        MockConfig(p_correct=1.5)


# --- one request, no HTTP ---


def test_the_model_answers_a_prompt_with_its_gold(versions, sentences):
    model = MockModel(MockConfig(data_dir=str(DATA), p_correct=1.0, p_no_box=0.0))
    for i, version in enumerate(versions[:10]):
        prompt = build_prompt(version, sentences, i)
        key = stable_hash(prompt)
        fault, delay, occurrence = model.next_fault(model.cfg, key)
        assert (fault, delay, occurrence) == ("ok", 0.0, 0)
        replies = model.replies(model.cfg, prompt, key, fault, occurrence, n=2)
        assert [r.outcome for r in replies] == ["correct", "correct"]
        assert all(same(boxed(r.content), version) for r in replies), version.problem.id


def test_the_fault_script_runs_in_order_and_restarts_on_update():
    model = MockModel(MockConfig(data_dir=str(DATA), script=("429", "ok", "drop")))
    steps = [model.next_fault(model.cfg, key)[0] for key in (1, 2, 3, 4)]
    assert steps == ["429", "ok", "drop", "ok"]
    model.update(script=("503",))
    assert model.next_fault(model.cfg, 1) == ("503", 0.0, 1)  # the second time key 1 is asked


def test_a_length_fault_cuts_before_the_box(versions, sentences):
    model = MockModel(MockConfig(data_dir=str(DATA), p_no_box=0.0, reasoning="none"))
    prompt = build_prompt(versions[0], sentences, 0)
    replies = model.replies(model.cfg, prompt, stable_hash(prompt), "length", 0, n=8)
    assert all(r.finish_reason == "length" and "\\boxed" not in r.content for r in replies)
