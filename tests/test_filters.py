r"""The filters after grading: each drop has a named reason, each kept row beside a near miss."""

from __future__ import annotations

import random

import pytest

from sftkit.output.filters import (
    DEFAULT_FILTERS,
    FILTERS,
    FilterConfig,
    Sample,
    first_reason,
    foreign_letters,
    parse_filters,
    sample_view,
    think_audit,
)
from sftkit.output.formats import Conversation, add_answer_meta, render
from validate_sft_data import check_answer

EN_PROBLEM = "Find the value of $x$ such that $2x + 3 = 7$. Put the final answer in \\boxed{}."
KO_PROBLEM = "함수 $f(x) = x^2$ 에 대하여 $f(3)$ 의 값을 구하시오. 답을 \\boxed{} 안에 적으시오."
HEALTHY_EN = (
    "Subtract 3 from both sides: $2x = 4$. Divide by 2, so $x = 2$. "
    "Check: $2 \\cdot 2 + 3 = 7$. The answer is $\\boxed{2}$."
)


def sample(answer: str = HEALTHY_EN, **kw) -> Sample:
    values = dict(
        answer=answer,
        reasoning=None,
        raw_text=answer,
        finish_reason="stop",
        think=None,
        completion_tokens=100,
        prompt=EN_PROBLEM,
    )
    values.update(kw)
    return Sample(**values)


ALL = FilterConfig(enabled=FILTERS, max_completion_tokens=4096)


def reason(s: Sample, cfg: FilterConfig = ALL) -> str | None:
    return first_reason(s, cfg, same=check_answer)  # the grader's value comparison, as the merge


# --- truncated ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "s, expected",
    [
        (sample(), None),
        # A box written midway, then cut off at max_tokens: never kept, even with the box.
        (sample(finish_reason="length"), "truncated"),
        (sample(think={"closed": True, "stray": 0}), None),
        (sample(think={"closed": False, "stray": 0}), "truncated"),
        # Stored by another tool with the thinking unclosed.
        (sample(raw_text="<think>2x = 4 so x = 2 ... \\boxed{2}"), "truncated"),
        (sample(raw_text=f"<think>2x = 4</think>\n\n{HEALTHY_EN}"), None),
    ],
)
def test_truncated(s, expected):
    assert reason(s) == expected


@pytest.mark.parametrize(
    "content, reasoning, expected",
    [
        ("<think>a</think>\\boxed{1}", None, {"closed": True, "stray": 0}),
        ("a</think>\\boxed{1}", None, {"closed": True, "stray": 0}),  # template opened the tag
        ("<think>a ... cut", None, {"closed": False, "stray": 0}),
        ("", "thinking without an end", {"closed": False, "stray": 0}),
        ("\\boxed{1}", "thought", {"closed": True, "stray": 0}),
        ("<think>a</think>\\boxed{1}</think>", None, {"closed": True, "stray": 1}),
        ("\\boxed{1}\n<think>", "thought", {"closed": True, "stray": 1}),
    ],
)
def test_think_audit(content, reasoning, expected):
    assert think_audit(content, reasoning) == expected


# --- hedged ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "answer, gold_parts, options, expected",
    [
        ("either \\boxed{3} or \\boxed{5}", 1, (), "hedged"),
        ("so \\boxed{5}", 1, (), None),
        # A legitimate two-box answer for a two-part gold.
        ("x=\\boxed{2}, y=\\boxed{7}", 2, (), None),
        ("x=\\boxed{2}, y=\\boxed{7}, or maybe y=\\boxed{8}", 2, (), "hedged"),
        # The same value boxed twice, in two spellings.
        ("first \\boxed{\\frac12} ... finally \\boxed{\\dfrac{1}{2}}", 1, (), None),
        ("first \\boxed{\\frac12} ... finally \\boxed{0.5}", 1, (), None),
        ("first \\boxed{\\frac12} ... finally \\boxed{\\frac{1}{3}}", 1, (), "hedged"),
        # Multiple choice: the option's value and its number name one answer.
        (
            "\\boxed{\\frac{4}{3}}, that is \\boxed{④}",
            1,
            ("$1$", "$2$", "$3$", "$\\frac{4}{3}$"),
            None,
        ),
        ("\\boxed{③} or \\boxed{④}", 1, ("$1$", "$2$", "$3$", "$\\frac{4}{3}$"), "hedged"),
    ],
)
def test_hedged(answer, gold_parts, options, expected):
    s = sample(answer, raw_text=answer, gold_parts=gold_parts, options=options)
    assert reason(s) == expected


# --- unbalanced_think --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "raw, think, expected",
    [
        (f"<think>\nx is 2\n</think>\n\n{HEALTHY_EN}", None, None),
        (f"<think>\nx is 2\n</think>\n\n{HEALTHY_EN}\n</think>", None, "unbalanced_think"),
        (f"{HEALTHY_EN} <think>", None, "truncated"),  # an opened block never closed
        (HEALTHY_EN, {"closed": True, "stray": 0}, None),
        # Storage balanced the tags; the server's reply had a stray one.
        (HEALTHY_EN, {"closed": True, "stray": 1}, "unbalanced_think"),
    ],
)
def test_unbalanced_think(raw, think, expected):
    assert reason(sample(raw_text=raw, think=think)) == expected


# --- repetition --------------------------------------------------------------------------------

LOOP = "Wait, let me recompute the value from the beginning to make sure every step is right. "
# A long, healthy solution: many steps, every one different (numbers change).
LONG_HEALTHY = " ".join(
    f"Step {i}: add {i} to the running total, which becomes {i * (i + 1) // 2}." for i in range(400)
)


@pytest.mark.parametrize(
    "reasoning, answer, expected",
    [
        (LOOP * 25, HEALTHY_EN, "repetition"),
        (LOOP * 20, HEALTHY_EN, None),  # 20 times is not more than 20
        (None, LOOP * 22 + HEALTHY_EN, "repetition"),
        (LONG_HEALTHY, HEALTHY_EN, None),
        ("1 1 1 1 " * 200, HEALTHY_EN, "repetition"),  # a degenerate digit loop
    ],
)
def test_repetition(reasoning, answer, expected):
    assert reason(sample(answer, reasoning=reasoning, completion_tokens=10)) == expected


def test_repetition_long_healthy_is_long():
    s = sample(reasoning=LONG_HEALTHY, completion_tokens=None)
    assert reason(s, FilterConfig(enabled=FILTERS)) is None  # no limit: kept
    assert reason(s, FilterConfig(enabled=FILTERS, max_completion_tokens=1000)) == "too_long"


# --- language_mix ------------------------------------------------------------------------------

ZH = "我们再仔细检查一下这个计算过程，确保每一步都正确无误，然后得出最终的结论。"


@pytest.mark.parametrize(
    "prompt, answer, expected",
    [
        (EN_PROBLEM, HEALTHY_EN, None),
        # An English solution that names a Korean term.
        (
            EN_PROBLEM,
            "In Korean exams this is called 일차방정식 (a linear equation). " + HEALTHY_EN,
            None,
        ),  # fmt: skip
        (EN_PROBLEM, f"{ZH} {HEALTHY_EN}", "language_mix"),
        (KO_PROBLEM, "$f(3) = 3^2 = 9$ 이므로 답은 $\\boxed{9}$ 이다.", None),
        # Korean solutions with English words and much math: Latin is never foreign.
        (
            KO_PROBLEM,
            "Step 1: $f(x) = x^2$ 에서 $x = 3$ 을 대입한다. So the answer is \\boxed{9}.",
            None,
        ),  # fmt: skip
        (KO_PROBLEM, f"$f(3) = 9$ 이다. {ZH} 답은 \\boxed{{9}}", "language_mix"),
        # A few Han characters (a stray term) stay below the floor.
        (KO_PROBLEM, "함수값(函數値)은 $f(3) = 9$ 이다. 답은 \\boxed{9}", None),
    ],
)
def test_language_mix(prompt, answer, expected):
    assert reason(sample(answer, raw_text=answer, prompt=prompt)) == expected


def test_math_is_not_counted_as_letters():
    s = sample("$\\frac{\\sqrt{3}}{2} \\cdot \\pi$ 이다", prompt=KO_PROBLEM)
    assert foreign_letters(s) == (0, 2)


# --- too_long and the switches -----------------------------------------------------------------


@pytest.mark.parametrize(
    "tokens, limit, expected",
    [(5000, 4096, "too_long"), (4096, 4096, None), (5000, None, None)],
)
def test_too_long(tokens, limit, expected):
    cfg = FilterConfig(enabled=FILTERS, max_completion_tokens=limit)
    assert first_reason(sample(completion_tokens=tokens), cfg) == expected


def test_too_long_is_off_by_default():
    assert "too_long" not in DEFAULT_FILTERS
    s = sample(completion_tokens=10**6)
    assert first_reason(s, FilterConfig(max_completion_tokens=10)) is None


def test_a_switched_off_filter_keeps_the_sample():
    s = sample("either \\boxed{3} or \\boxed{5}", finish_reason="length")
    assert first_reason(s, FilterConfig(enabled=FILTERS)) == "truncated"
    assert first_reason(s, FilterConfig(enabled=("hedged",))) == "hedged"
    assert first_reason(s, FilterConfig(enabled=())) is None


@pytest.mark.parametrize(
    "text, expected",
    [
        ("truncated,hedged", ("truncated", "hedged")),
        ("hedged, truncated", ("truncated", "hedged")),
        ("all", FILTERS),
        ("none", ()),
        ("", ()),
        ("default", DEFAULT_FILTERS),
    ],
)
def test_parse_filters(text, expected):
    assert parse_filters(text) == expected


def test_parse_filters_names_the_unknown_one():
    with pytest.raises(ValueError, match="unknown filter.*hedge\\b"):
        parse_filters("truncated,hedge")


def test_sample_view_reads_a_stored_record():
    conv = Conversation(prompt=EN_PROBLEM, content="\\boxed{2}", reasoning="2x = 4")
    meta = {
        "prompt": EN_PROBLEM,
        "finish_reason": "stop",
        "truncated": True,
        "usage": {"completion_tokens": 7},
        "think": {"closed": True, "stray": 1},
    }
    record = add_answer_meta(render(conv, "sharegpt", "think_tags"), "sharegpt", "2", meta)
    s = sample_view(record, gold_parts=2)
    assert (s.answer, s.reasoning, s.finish_reason) == ("\\boxed{2}", "2x = 4", "length")
    assert s.raw_text.startswith("<think>\n2x = 4\n</think>")
    assert (s.completion_tokens, s.gold_parts, s.think["stray"]) == (7, 2, 1)


@pytest.mark.parametrize("seed", range(40))
def test_repeat_screen_agrees_with_counting_every_ngram(seed):
    """The cheap screens in _repeats (frequent tokens, frequent 4-grams) never hide a loop: on
    token streams built to sit near the threshold, it agrees with a plain count of all n-grams."""
    from collections import Counter

    from sftkit.output.filters import _repeats

    rng = random.Random(seed)
    n, times = 6, 5
    vocab = [f"w{k}" for k in range(rng.choice((3, 6, 12)))]
    loop = [rng.choice(vocab) for _ in range(n + rng.randrange(3))]
    tokens, unique = [], iter(range(10**6))
    for _ in range(rng.randrange(3, 9)):
        tokens += loop if rng.random() < 0.8 else loop[: rng.randrange(1, len(loop))]
        # Fillers: common words, or words seen once (a loop then stands alone, n tokens long).
        filler = (rng.choice(vocab) if rng.random() < 0.5 else f"u{next(unique)}" for _ in "ab")
        tokens += list(filler)[: rng.randrange(0, 3)]
    brute = Counter(tuple(tokens[i : i + n]) for i in range(len(tokens) - n + 1))
    expected = len(tokens) >= n + times and max(brute.values(), default=0) > times
    assert _repeats(tokens, n, times) == expected
