r"""Filters after grading: which correct samples the merge keeps, each drop with a named reason.

`*_validated/` stays the grader's decision; these filters decide what reaches the training data,
so `--merge_only --filters ...` rebuilds it with no regrading and no requests.

Pipeline order: sample_view() -> first_reason() (think_audit() runs at storage time).

    truncated         finish_reason "length", or reasoning whose closing tag never came. Never
                      kept, even with a box: a model that boxes a guess midway and keeps going.
    hedged            the answer part boxes two or more different values that are not one
                      multi-part answer ("either \boxed{3} or \boxed{5}"); "x=\boxed{2},
                      y=\boxed{7}" for a two-part gold and a repeated box are fine.
    unbalanced_think  a stray <think> or </think> in the answer part.
    repetition        a degenerate loop: some REPEAT_NGRAM-token n-gram occurs more than
                      REPEAT_TIMES times (AM-Thinking-v1's rule; see README "Filters").
    language_mix      letters of a script foreign to the problem (Han in a Korean or English
                      solution, Hangul in a solution to a problem without any) above a small
                      share; Latin letters and math are never foreign (thresholds measured on our
                      own samples, see README).
    too_long          more than --max_completion_tokens completion tokens (off by default).

Usage:
    cfg = FilterConfig(enabled=parse_filters("truncated,hedged"))
    first_reason(sample_view(record, gold_parts=1), cfg)   # -> "hedged" or None (kept)
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass

from sftkit.grading.latex_scan import closing_brace
from sftkit.output.formats import THINK_CLOSE, THINK_OPEN, parse, raw_assistant_text

FILTERS = ("truncated", "hedged", "unbalanced_think", "repetition", "language_mix", "too_long")
DEFAULT_FILTERS = tuple(f for f in FILTERS if f != "too_long")

# AM-Thinking-v1 (a-m-team, 2025) dropped responses in which a 20-token n-gram repeats more than
# 20 times. Tokens here are words and single symbols (no tokenizer is at hand): a loop of prose
# or of formulas splits into about as many pieces as a BPE tokenizer would make of it.
REPEAT_NGRAM = 20
REPEAT_TIMES = 20
# language_mix: drop when foreign-script letters are at least MIN_FOREIGN_LETTERS and more than
# MAX_FOREIGN_SHARE of all letters outside math. Measured on our samples (README "Filters"): the
# demo's solutions have no foreign letters at all; a Korean term named in a short English
# solution is 2-8 letters (up to ~7 % of a 100-letter answer); a model that drifts into Chinese
# for one sentence writes 20 or more Han characters.
MIN_FOREIGN_LETTERS = 20
MAX_FOREIGN_SHARE = 0.05


def parse_filters(text: str | None) -> tuple[str, ...]:
    """The filters a --filters value names: "truncated,hedged" -> ("truncated", "hedged");
    "all" -> every filter; "none" or "" -> (); "default" -> DEFAULT_FILTERS; unknown -> ValueError."""
    names = [t.strip() for t in (text or "").split(",") if t.strip()]
    if names in (["none"], []):
        return ()
    if names == ["all"]:
        return FILTERS
    if names == ["default"]:
        return DEFAULT_FILTERS
    bad = [n for n in names if n not in FILTERS]
    if bad:
        raise ValueError(
            f"unknown filter(s) {', '.join(bad)}; choose from {', '.join(FILTERS)}, all, none"
        )
    return tuple(f for f in FILTERS if f in names)  # pipeline order, each once


@dataclass(frozen=True)
class FilterConfig:
    enabled: tuple[str, ...] = DEFAULT_FILTERS
    max_completion_tokens: int | None = None  # too_long's limit; None: too_long keeps everything


@dataclass(frozen=True)
class Sample:
    """What the filters read of one stored sample."""

    answer: str  # the final text, reasoning removed
    reasoning: str | None
    raw_text: str  # the assistant text as stored (tags as they are)
    finish_reason: str | None
    think: dict | None  # meta.think: the reply's tags as the server sent them (think_audit)
    completion_tokens: int | None
    prompt: str
    gold_parts: int = 1  # answers the gold lists: "x=2, y=7" -> 2
    options: tuple[str, ...] = ()  # a multiple-choice prompt's option texts


def think_audit(content: str | None, reasoning: str | None = None) -> dict:
    r"""The think tags of a reply as the server sent it, before storage balances them.

    ("<think>a</think>\boxed{1}", None) -> {"closed": True, "stray": 0}
    ("<think>a ... cut", None) -> {"closed": False, "stray": 0}
    ("<think>a</think>\boxed{1}</think>", None) -> {"closed": True, "stray": 1}
    ("", "thinking without an end") -> {"closed": False, "stray": 0}  (a parser found no </think>)
    """
    content = content or ""
    close = content.find(THINK_CLOSE)
    if close != -1:
        answer = content[close + len(THINK_CLOSE) :]
        closed = True
    elif content.lstrip().startswith(THINK_OPEN):
        answer, closed = "", False  # reasoning that never ended: no answer part at all
    else:
        answer = content
        # A reasoning parser puts a reply without </think> wholly into the reasoning field.
        closed = not (reasoning and reasoning.strip() and not content.strip())
    stray = answer.count(THINK_OPEN) + answer.count(THINK_CLOSE)
    return {"closed": closed, "stray": stray}


def sample_view(record: dict, gold_parts: int = 1, options: tuple[str, ...] = ()) -> Sample:
    """The fields the filters read, from a stored record of any format."""
    meta = record.get("meta") if isinstance(record.get("meta"), dict) else {}
    conv = parse(record)
    usage = meta.get("usage") if isinstance(meta.get("usage"), dict) else {}
    tokens = usage.get("completion_tokens")
    finish = meta.get("finish_reason")
    if meta.get("truncated") is True:
        finish = "length"
    think = meta.get("think") if isinstance(meta.get("think"), dict) else None
    return Sample(
        answer=conv.content if conv else "",
        reasoning=conv.reasoning if conv else None,
        raw_text=raw_assistant_text(record) or "",
        finish_reason=finish if isinstance(finish, str) else None,
        think=think,
        completion_tokens=tokens if isinstance(tokens, int) else None,
        prompt=str(meta.get("prompt") or (conv.prompt if conv else "")),
        gold_parts=gold_parts,
        options=options,
    )


# --- the filters, in pipeline order ------------------------------------------------------------


def is_truncated(s: Sample) -> bool:
    """Cut off at the token limit, or reasoning whose closing tag never came."""
    if s.finish_reason == "length":
        return True
    if s.think is not None and s.think.get("closed") is False:
        return True
    return THINK_OPEN in s.raw_text and THINK_CLOSE not in s.raw_text


_BOX = re.compile(r"\\(?:boxed|fbox)\s*\{")
_SPACES = re.compile(r"\s+|\\[,;!: ]|\\left|\\right|\\displaystyle")
_CIRCLED = "①②③④⑤⑥⑦⑧⑨"
_CHOICE = re.compile(r"\(?([①-⑨])\)?|\(?([1-9])\)?번?|\\text\{([①-⑨])\}")


def light_normalize(value: str) -> str:
    r"""Enough to tell one value from another written alike: "\dfrac{1}{2} ." -> "\frac{1}{2}"."""
    v = value.strip().strip("$").strip()
    v = v.replace("\\dfrac", "\\frac").replace("\\tfrac", "\\frac")
    v = _SPACES.sub("", v)
    return v.rstrip(".。")


def boxed_values(text: str) -> list[str]:
    r"""Contents of every complete \boxed{...} in text: "a \boxed{3} or \boxed{5}" -> ["3", "5"]."""
    out, pos = [], 0
    while (m := _BOX.search(text, pos)) is not None:
        end = closing_brace(text, m.end() - 1)
        if end == -1:
            break
        out.append(text[m.end() : end])
        pos = end + 1
    return out


def _same_light(a: str, b: str) -> bool:
    return light_normalize(a) == light_normalize(b)


def _meaning(value: str, options: tuple[str, ...], same: Callable[[str, str], bool]) -> str:
    """For a multiple-choice prompt, "③", "3번" and option 3's value are one answer:
    "choice:3"; any other value stands for itself."""
    if options:
        m = _CHOICE.fullmatch(light_normalize(value))
        if m:
            mark = m.group(1) or m.group(3)
            return f"choice:{_CIRCLED.index(mark) + 1 if mark else int(m.group(2))}"
        for k, option in enumerate(options, 1):
            if same(value, option):
                return f"choice:{k}"
    return value


MAX_HEDGE_BOXES = 12  # more boxes than this in an answer part is hedging whatever they hold


def is_hedged(s: Sample, same: Callable[[str, str], bool] = _same_light) -> bool:
    r"""More different boxed values in the answer part than the gold has parts. `same` is the
    grader's value comparison (check_answer), so "\frac12" and "0.5" are one value.

    "either \boxed{3} or \boxed{5}" (gold 5) -> True; "x=\boxed{2}, y=\boxed{7}" (gold "x=2, y=7",
    2 parts) -> False; "\boxed{4} ... so \boxed{4}" -> False.
    """
    values = boxed_values(s.answer)
    if len(values) > MAX_HEDGE_BOXES:
        return True
    distinct: list[str] = []
    for value in values:
        meaning = _meaning(value, s.options, same)
        if not any(
            meaning == seen or (not seen.startswith("choice:") and same(meaning, seen))
            for seen in distinct
        ):
            distinct.append(meaning)
    return len(distinct) >= 2 and len(distinct) > max(1, s.gold_parts)


_TAG = re.compile(r"</?think>")


def is_unbalanced_think(s: Sample) -> bool:
    """A stray <think> or </think> in the answer part: as the server sent it (meta.think), or as
    stored (tags beyond one leading <think>...</think> block)."""
    if s.think is not None and s.think.get("stray"):
        return True
    text = s.raw_text.lstrip()
    if text.startswith(THINK_OPEN) and THINK_CLOSE in text:
        text = text[text.index(THINK_CLOSE) + len(THINK_CLOSE) :]
    return _TAG.search(text) is not None


_WORD = re.compile(r"\w+|\S")  # a word, or one symbol ("\\", "{", "=")


def is_repetitive(s: Sample, n: int = REPEAT_NGRAM, times: int = REPEAT_TIMES) -> bool:
    """Some n-token n-gram of the reasoning or the answer occurs more than `times` times."""
    return any(_repeats(_WORD.findall(text), n, times) for text in (s.reasoning or "", s.answer))


def _repeats(tokens: list[str], n: int, times: int) -> bool:
    """An n-gram of tokens occurs more than `times` times.

    Exact, and cheap on healthy text: each 4-gram inside such an n-gram occurs more than `times`
    times too, so the n-grams are counted only when the text has a stretch of n - 3 frequent
    4-grams in a row. The tuples are built and counted in C (they hold references, not copies).
    """
    if len(tokens) < n + times:
        return False
    # Every token of such an n-gram occurs more than `times` times: without a run of n such
    # tokens in a row there is no loop (prose passes here, at a third of the 4-gram count's cost).
    frequent_tokens = {t for t, c in Counter(tokens).items() if c > times}
    if b"\x01" * n not in bytes(map(frequent_tokens.__contains__, tokens)):
        return False
    k = min(4, n)
    quads = Counter(zip(*(tokens[j:] for j in range(k)), strict=False))
    if quads.most_common(1)[0][1] <= times:
        return False
    frequent = {g for g, c in quads.items() if c > times}
    # One byte per position, 1 where a frequent 4-gram starts; built in C, searched in C.
    flags = bytes(map(frequent.__contains__, zip(*(tokens[j:] for j in range(k)), strict=False)))
    if b"\x01" * (n - k + 1) not in flags:
        return False
    grams = Counter(zip(*(tokens[j:] for j in range(n)), strict=False))
    return grams.most_common(1)[0][1] > times


_MATH = re.compile(
    r"\$\$.*?\$\$|\$[^$]*\$|\\\(.*?\\\)|\\\[.*?\\\]|\\begin\{(\w+\*?)\}.*?\\end\{\1\}", re.S
)
_COMMAND = re.compile(r"\\[a-zA-Z]+")
SCRIPTS = {
    "hangul": re.compile(r"[\uac00-\ud7a3\u1100-\u11ff\u3130-\u318f]"),
    "han": re.compile(r"[\u4e00-\u9fff\u3400-\u4dbf\uf900-\ufaff]"),
    "kana": re.compile(r"[\u3040-\u30ff]"),
    "cyrillic": re.compile(r"[\u0400-\u04ff]"),
    "latin": re.compile(r"[A-Za-z\u00c0-\u024f]"),
}


def script_letters(text: str) -> Counter:
    r"""Letters per script outside math and LaTeX commands:
    "답은 $\frac{1}{2}$ 이다 so" -> Counter({"hangul": 3, "latin": 2})."""
    prose = _COMMAND.sub(" ", _MATH.sub(" ", text))
    return Counter({name: n for name, rx in SCRIPTS.items() if (n := len(rx.findall(prose)))})


_NON_LATIN = re.compile("|".join(rx.pattern for name, rx in SCRIPTS.items() if name != "latin"))


def foreign_letters(s: Sample) -> tuple[int, int]:
    """(letters of scripts the problem does not use, all letters) in the reasoning and answer.
    Latin is never foreign: math terms and variable names are Latin in every language."""
    problem = script_letters(s.prompt)
    allowed = {"latin"} | {name for name, n in problem.items() if n >= 2}
    letters = script_letters(f"{s.reasoning or ''}\n{s.answer}")
    foreign = sum(n for name, n in letters.items() if name not in allowed)
    return foreign, sum(letters.values())


def is_language_mixed(s: Sample) -> bool:
    text = f"{s.reasoning or ''}\n{s.answer}"
    if text.isascii():
        return False  # Latin letters and math only: never foreign
    if len(_NON_LATIN.findall(text)) < MIN_FOREIGN_LETTERS:
        return False  # too few letters of any other script, even before math is set aside
    foreign, total = foreign_letters(s)
    return foreign >= MIN_FOREIGN_LETTERS and foreign > MAX_FOREIGN_SHARE * total


def completion_tokens(s: Sample) -> int:
    """The server's count, else words and symbols of the reasoning and answer."""
    if s.completion_tokens is not None:
        return s.completion_tokens
    return len(_WORD.findall(f"{s.reasoning or ''} {s.answer}"))


def first_reason(
    s: Sample, cfg: FilterConfig, same: Callable[[str, str], bool] = _same_light
) -> str | None:
    """The first enabled filter (in FILTERS order) that drops the sample, or None: kept.
    `same(a, b)` compares two answer values (the grader's check_answer; hedged uses it)."""
    checks = {
        "truncated": lambda: is_truncated(s),
        "hedged": lambda: is_hedged(s, same),
        "unbalanced_think": lambda: is_unbalanced_think(s),
        "repetition": lambda: is_repetitive(s),
        "language_mix": lambda: is_language_mixed(s),
        "too_long": lambda: (
            cfg.max_completion_tokens is not None
            and completion_tokens(s) > cfg.max_completion_tokens
        ),
    }
    for name in FILTERS:
        if name in cfg.enabled and checks[name]():
            return name
    return None
