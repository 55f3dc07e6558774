r"""validate_item over every stored format, never raising, and the SymPy step's safety net:
a step that raises or hangs gives a clean False with reason "unparseable" / "timeout", on the
main thread (SIGALRM) and off it (killable worker process)."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

import validate_sft_data as vsd
from sftkit.grading import compare as grading_compare
from sftkit.grading import extract as grading_extract
from sftkit.grading import grade as grading_grade
from sftkit.grading import symbolic as grading_symbolic
from sftkit.output.formats import Conversation, render

SYMBOLIC_PAIR = (r"\sin\frac{\pi}{6}", r"\frac{1}{2}")  # only the SymPy step can decide this


@pytest.fixture(autouse=True)
def fresh_symbolic_step():
    grading_symbolic.clear_cache()
    yield
    grading_symbolic.clear_cache()


@pytest.fixture
def fresh_pool():
    # The worker is forked lazily, so one started after monkeypatching runs the patched step.
    grading_symbolic.shutdown_pool()
    yield
    grading_symbolic.shutdown_pool()


def _record(fmt: str, content: str, reasoning: str | None, mode: str, answer) -> dict:
    conv = Conversation(prompt="7. 값을 구하시오. [3점]", content=content, reasoning=reasoning)
    return {**render(conv, fmt, mode), "answer": answer, "meta": {"source": "t"}}


@pytest.mark.parametrize("fmt", ["messages", "sharegpt", "alpaca", "simple"])
@pytest.mark.parametrize("mode", ["think_tags", "field", "drop"])
def test_every_format_grades_the_final_content(fmt, mode):
    item = _record(fmt, r"따라서 정답은 \boxed{③}", "maybe \\boxed{2}?", mode, 3)
    assert vsd.validate_item(item) == {
        "is_correct": True,
        "extracted_answer": "③",
        "ground_truth": 3,
        "reason": "match_choice",
    }


@pytest.mark.parametrize("fmt", ["messages", "sharegpt", "alpaca", "simple"])
def test_box_only_in_reasoning_is_no_answer(fmt):
    item = _record(fmt, "I am not sure.", r"it is \boxed{3}", "think_tags", 3)
    verdict = vsd.validate_item(item)
    assert (verdict["is_correct"], verdict["reason"]) == (False, "no_box")


def test_unclosed_think_block_is_no_answer():
    item = {"messages": [{"role": "assistant", "content": r"<think>so \boxed{3}"}], "answer": 3}
    assert vsd.validate_item(item)["reason"] == "no_box"


def test_sharegpt_think_tags_removed():
    item = {
        "conversations": [
            {"from": "human", "value": "q"},
            {"from": "gpt", "value": "<think>\\boxed{4}</think>\n\n\\boxed{\\dfrac{3}{2}}"},
        ],
        "answer": "$\\frac{3}{2}$",
    }
    verdict = vsd.validate_item(item)
    assert verdict["is_correct"] and verdict["extracted_answer"] == r"\dfrac{3}{2}"
    assert verdict["ground_truth"] == "$\\frac{3}{2}$"


WEIRD_ITEMS = [
    None,
    [],
    "text",
    42,
    {},
    {"answer": 3},
    {"messages": "not a list", "answer": 3},
    {"messages": [None, 1, {"role": "assistant"}], "answer": 3},
    {"messages": [{"role": "assistant", "content": 5}], "answer": 3},
    {"conversations": [{"from": "gpt", "value": None}], "answer": 3},
    {"output": ["\\boxed{3}"], "answer": 3},
    {"solution": "\\boxed{3}", "answer": {"weird": 1}},
    {"solution": "\\boxed{3}", "answer": [3]},
    {"solution": "\\boxed{3}", "answer": None},
    {"solution": "\\boxed{" + "{" * 50_000, "answer": 3},
    {"solution": "\\boxed{9^{9^{9^{9}}}}", "answer": "9^{9^{9^{9}}}+1"},
]


@pytest.mark.parametrize("item", WEIRD_ITEMS, ids=[f"item{i}" for i in range(len(WEIRD_ITEMS))])
def test_validate_item_never_raises(item):
    verdict = vsd.validate_item(item)
    assert set(verdict) == {"is_correct", "extracted_answer", "ground_truth", "reason"}
    assert verdict["is_correct"] is False
    assert verdict["reason"] in vsd.REASONS


def _broken(*args):
    raise RuntimeError("a bug in a grading step")


@pytest.mark.parametrize(
    "module, step, extracted, checked, graded",
    [
        (grading_extract, "_boxes", None, True, False),  # extraction breaks
        (grading_compare, "normalize_answer", "3", False, False),  # the decision breaks
        # reading the record breaks: only validate_item sees it
        (grading_grade, "final_text", "3", True, True),
    ],
)
def test_a_step_that_raises_is_a_rejection_at_the_one_boundary(
    monkeypatch, module, step, extracted, checked, graded
):
    monkeypatch.setattr(module, step, _broken)
    assert vsd.extract_boxed_answer(r"\boxed{3}") == extracted
    assert vsd.check_answer("3", 3) is checked
    verdict = vsd.grade(r"\boxed{3}", 3)
    assert verdict == (vsd.Verdict(True, "3", "match_exact") if graded else grading_grade._REJECTED)
    assert vsd.validate_item({"solution": r"\boxed{3}", "answer": 3}) == {
        "is_correct": False,
        "extracted_answer": None,
        "ground_truth": 3,
        "reason": "unparseable",
    }


def test_grade_and_check_answer_agree_on_reasons():
    for response in (r"\boxed{3}", r"\boxed{}", "3", r"\boxed{4}", r"\boxed{③}"):
        verdict = vsd.grade(response, 3)
        assert verdict.reason in vsd.REASONS
        assert vsd.check_answer(vsd.extract_boxed_answer(response), 3) == verdict.is_correct


# --- the SymPy step fails or hangs ---


def _raise(a, b):
    raise RuntimeError("parser exploded")


def _hang(a, b):
    time.sleep(30)
    return True


def test_symbolic_step_is_reached_for_the_pair():
    verdict = vsd.grade(rf"\boxed{{{SYMBOLIC_PAIR[0]}}}", SYMBOLIC_PAIR[1])
    assert (verdict.is_correct, verdict.reason) == (True, "match_symbolic")


def test_symbolic_raise_is_unparseable(monkeypatch):
    monkeypatch.setattr(grading_symbolic, "symbolic_equal", _raise)
    verdict = vsd.grade(rf"\boxed{{{SYMBOLIC_PAIR[0]}}}", SYMBOLIC_PAIR[1])
    assert (verdict.is_correct, verdict.reason) == (False, "unparseable")


@pytest.mark.e2e
def test_symbolic_hang_times_out_on_main_thread(monkeypatch):
    assert threading.current_thread() is threading.main_thread()
    monkeypatch.setattr(grading_symbolic, "symbolic_equal", _hang)
    monkeypatch.setattr(grading_symbolic, "SYMBOLIC_TIMEOUT", 0.5)
    start = time.monotonic()
    verdict = vsd.grade(rf"\boxed{{{SYMBOLIC_PAIR[0]}}}", SYMBOLIC_PAIR[1])
    assert (verdict.is_correct, verdict.reason) == (False, "timeout")
    assert time.monotonic() - start < 5
    # the alarm is disarmed afterwards: a later slow-ish call is not interrupted
    time.sleep(0.6)


@pytest.mark.e2e
def test_symbolic_hang_times_out_off_main_thread(monkeypatch, fresh_pool):
    monkeypatch.setattr(grading_symbolic, "symbolic_equal", _hang)
    monkeypatch.setattr(grading_symbolic, "SYMBOLIC_TIMEOUT", 1.0)
    start = time.monotonic()
    with ThreadPoolExecutor(max_workers=2) as pool:
        verdict = pool.submit(
            vsd.grade, rf"\boxed{{{SYMBOLIC_PAIR[0]}}}", SYMBOLIC_PAIR[1]
        ).result()
    assert (verdict.is_correct, verdict.reason) == (False, "timeout")
    assert time.monotonic() - start < 20


@pytest.mark.e2e
def test_symbolic_raise_off_main_thread(monkeypatch, fresh_pool):
    monkeypatch.setattr(grading_symbolic, "symbolic_equal", _raise)
    with ThreadPoolExecutor(max_workers=1) as pool:
        verdict = pool.submit(
            vsd.grade, rf"\boxed{{{SYMBOLIC_PAIR[0]}}}", SYMBOLIC_PAIR[1]
        ).result()
    assert (verdict.is_correct, verdict.reason) == (False, "unparseable")


@pytest.mark.e2e
def test_real_symbolic_step_off_main_thread(fresh_pool):
    with ThreadPoolExecutor(max_workers=2) as pool:
        futures = [
            pool.submit(vsd.grade, r"\boxed{\log_2 8}", 3),
            pool.submit(vsd.grade, r"\boxed{\ln e^{3}}", "2"),
            pool.submit(vsd.grade, r"\boxed{7}", 7),
        ]
        verdicts = [f.result() for f in futures]
    assert [(v.is_correct, v.reason) for v in verdicts] == [
        (True, "match_symbolic"),
        (False, "mismatch"),
        (True, "match_exact"),
    ]


@pytest.mark.parametrize(
    "answer",
    [
        "9^{9^{9^{9}}}",
        "(10^{100})!",
        "10^{10^{10}}",
        "2^{123456789}",
        "(" * 3000 + "2" + ")" * 3000,  # peeled to 2 in one pass, then exact arithmetic
        "(1+" * 3000 + "0" + ")" * 3000,
        "1" * 100_000,
        "{" * 50_000,
        "x" * 100_000,
    ],
    ids=[
        "tower",
        "factorial",
        "power-tower",
        "huge-exponent",
        "deep-parens",
        "deep-sum",
        "100k-digits",
        "50k-braces",
        "100k-letters",
    ],
)
def test_caps_refuse_before_sympy(monkeypatch, answer):
    def must_not_run(a, b):
        raise AssertionError("capped input reached SymPy")

    monkeypatch.setattr(grading_symbolic, "symbolic_equal", must_not_run)
    start = time.process_time()  # CPU seconds of this work, whatever else the machine runs
    verdict = vsd.grade(f"\\boxed{{{answer}}}", "1")
    assert verdict.is_correct is False
    assert verdict.reason in ("unparseable", "mismatch", "no_box")
    assert time.process_time() - start < 2


def test_typical_answers_never_reach_sympy(monkeypatch):
    monkeypatch.setattr(grading_symbolic, "symbolic_equal", _raise)
    pairs = [
        (r"\boxed{\dfrac{3}{2}}", "1.5", True),
        (r"\boxed{③}", 3, True),
        (r"\boxed{15\text{개}}", 15, True),
        (r"\boxed{\frac{2}{\sqrt5}}", r"\frac{2\sqrt5}{5}", True),
        (r"\boxed{\frac{2\pi}{6}}", r"\frac{\pi}{3}", True),
        (r"\boxed{6.283185}", r"2\pi", True),
        (r"\boxed{0.333333}", r"\frac13", True),
        (r"\boxed{1,000}", 1000, True),
        (r"\boxed{x=5}", 5, True),
        (r"\boxed{(1, \frac12)}", "(1, 0.5)", True),
        (r"\boxed{12}", 13, False),
    ]
    for response, gold, expected in pairs:
        verdict = vsd.grade(response, gold)
        assert verdict.is_correct is expected, (response, verdict)
        assert verdict.reason != "unparseable"


@pytest.mark.e2e
def test_no_pool_available_still_times_out(monkeypatch):
    def no_pool():
        raise AssertionError("daemonic processes are not allowed to have children")

    monkeypatch.setattr(grading_symbolic, "_get_pool", no_pool)
    monkeypatch.setattr(grading_symbolic, "symbolic_equal", _hang)
    monkeypatch.setattr(grading_symbolic, "SYMBOLIC_TIMEOUT", 0.5)
    with ThreadPoolExecutor(max_workers=1) as pool:
        verdict = pool.submit(
            vsd.grade, rf"\boxed{{{SYMBOLIC_PAIR[0]}}}", SYMBOLIC_PAIR[1]
        ).result()
    assert (verdict.is_correct, verdict.reason) == (False, "timeout")


def test_outer_alarm_is_given_back():
    import signal

    fired = []
    previous = signal.signal(signal.SIGALRM, lambda *_: fired.append(True))
    try:
        signal.setitimer(signal.ITIMER_REAL, 30)
        assert vsd.grade(r"\boxed{\log_2 8}", 3).is_correct
        remaining, _ = signal.getitimer(signal.ITIMER_REAL)
        assert 0 < remaining <= 30
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
    assert not fired


def test_nested_and_huge_boxes_never_raise():
    cases = [
        "\\boxed{" * 300 + "3" + "}" * 300,
        "\\boxed{" + "$" * 100_000 + "}",
        "\\boxed{" + "\\text{" * 20_000 + "}",
        "\\boxed{1}" * 30_000,
    ]
    for response in cases:
        start = time.process_time()  # CPU seconds of this work, whatever else the machine runs
        verdict = vsd.grade(response, 3)
        assert verdict.is_correct is False and verdict.reason in vsd.REASONS
        assert vsd.check_answer(vsd.extract_boxed_answer(response), 3) is False
        assert time.process_time() - start < 2


def test_short_nested_box_is_unwrapped():
    assert vsd.grade(r"\boxed{\boxed{\boxed{3}}}", 3).is_correct


def test_warm_up_then_grade():
    vsd.warm_up()
    assert vsd.grade(r"\boxed{\cos 0}", "1").reason == "match_symbolic"


# --- the SymPy step's cheaper paths give the verdicts the expensive ones gave ---

SLL_FORMS = [
    r"(x+2)(x+3)",
    r"\frac{\sqrt{3}}{2}",
    r"\sin(\frac{\pi}{3}+4\pi)",
    r"7\log2",
    r"6x+8y-10=0",
    r"-3y>-12",
    r"\{12x,4+x\}",
    r"\begin{pmatrix}x\cdot3&x\cdot x\\4&3+x\end{pmatrix}",
    r"x^2+5x+6",  # SLL gives up here: the full LL parse answers
    r"\log_{2}8",
]


@pytest.mark.parametrize("text", SLL_FORMS)
def test_fast_parse_is_the_full_parse(text):
    from latex2sympy2_extended import latex2sympy

    expr, why = grading_symbolic._parse(text)
    full = latex2sympy(text, normalization_config=None)
    assert why is None and type(expr) is type(full) and str(expr) == str(full)


def test_parse_failures_are_cached_but_not_retried_as_successes():
    grading_symbolic.clear_cache()
    with pytest.raises(ValueError):
        grading_symbolic._to_sympy(r"\frac{")
    assert grading_symbolic._parse.cache_info().currsize == 1
    with pytest.raises(ValueError):
        grading_symbolic._to_sympy(r"\frac{")
    assert grading_symbolic._parse.cache_info().hits == 1


def test_probes_refute_and_expand_proves_without_simplify(monkeypatch):
    import sympy

    def no_simplify(*args, **kwargs):
        raise AssertionError("simplify was reached")

    monkeypatch.setattr(sympy, "simplify", no_simplify)
    assert grading_symbolic.symbolic_equal("x^2+2x+1", "(x+1)^2") is True  # expand proves
    assert grading_symbolic.symbolic_equal(r"\frac{x^2-9}{x-3}", "x+3") is True  # cancel proves
    assert grading_symbolic.symbolic_equal("x^2+2x+2", "(x+1)^2") is False  # a probe refutes
    assert grading_symbolic.symbolic_equal("2x+4y=6", "x+2y=3") is True  # constant ratio, cancel
    assert grading_symbolic.symbolic_equal("2x+4y=6", "x+2y=4") is False


def test_probes_never_accept():
    # Zero at every probe point (x = 13/7, 29/11, 47/17) but not zero: only a proof accepts.
    vanishing = "(7x-13)(11x-29)(17x-47)"
    assert all(grading_symbolic._probe_values(grading_symbolic._to_sympy(vanishing), i) == 0
               for i in range(len(grading_symbolic._PROBES)))  # fmt: skip
    assert grading_symbolic.symbolic_equal(vanishing, "0") is False
    assert grading_symbolic.symbolic_equal(r"\sin^2x+\cos^2x", "1") is True  # simplify proves


def test_warm_up_is_tried_once(monkeypatch):
    calls = []

    def broken(text):
        calls.append(text)
        raise RuntimeError("no parser installed")

    monkeypatch.setattr(grading_symbolic, "_warm", False)
    monkeypatch.setattr(grading_symbolic, "_to_sympy", broken)
    grading_symbolic.warm_up()
    tried = len(calls)
    grading_symbolic.warm_up()
    assert tried == len(grading_symbolic._WARM_UP_FORMS) and len(calls) == tried
