r"""Grade SFT samples: extract the final \boxed{} answer and check it against the gold answer.

Pipeline order: extract_boxed_answer -> normalize_latex -> normalize_answer -> check_answer
-> grade -> validate_item. The decision is layered so typical answers never reach SymPy:
normalised string match -> exact rational/surd arithmetic (sftkit.grading.numeric) -> SymPy
behind size caps and a hard time limit (sftkit.grading.symbolic). When in doubt, reject.

Reasons: no_box, empty_box, match_exact, match_numeric, match_symbolic, match_choice, mismatch,
timeout, unparseable.

Usage:
    python validate_sft_data.py sft_output/sample_math/subjectives --output_dir validation
    python validate_sft_data.py a.jsonl b.jsonl --output_dir out --keep_incorrect

    from validate_sft_data import check_answer, extract_boxed_answer
    check_answer(extract_boxed_answer(r"... \boxed{\dfrac{3}{2}}"), "1.5")   # True

Outputs in --output_dir: audit.jsonl (one verdict per input line), validated/<file> (correct
records with meta.verdict and meta.extracted_answer) and, with --keep_incorrect,
incorrect/<file>. Exit code 1 when any input line could not be read (named as file:line).
"""

from __future__ import annotations

import argparse
import functools
import re
import sys
from dataclasses import dataclass
from pathlib import Path

from sftkit.common.jsonl import atomic_write_jsonl, parse_lines
from sftkit.grading.latex_scan import MAX_NESTING, bracket_nesting, closing_brace
from sftkit.grading.numeric import (
    decimal_digits,
    decimal_matches,
    matrix_value,
    parse_exact,
    terminates,
)
from sftkit.grading.symbolic import run_symbolic
from sftkit.grading.symbolic import warm_up as warm_up  # public here: workers warm the grader
from sftkit.output.formats import final_text, split_reasoning

REASONS = (
    "no_box",
    "empty_box",
    "match_exact",
    "match_numeric",
    "match_symbolic",
    "match_choice",
    "mismatch",
    "timeout",
    "unparseable",
)
MAX_ANSWER_CHARS = 2000  # longer "answers" are not answers; only an identical gold matches


def _never_raises(fallback):
    """The one boundary that catches the unexpected. Every public grading call passes through it
    exactly once (extract_boxed_answer, check_answer, grade; validate_item via _grade_record) and
    then runs only private steps, which catch nothing: whatever a step raises on a freak input
    becomes `fallback`, a rejection, never an exception in the caller's loop.

    @_never_raises(False) on check_answer: a bug in any step -> False.
    """

    def wrap(public):
        @functools.wraps(public)
        def guarded(*args, **kwargs):
            try:
                return public(*args, **kwargs)
            except Exception:  # noqa: BLE001 - model output is data: what breaks a step is rejected
                return fallback

        return guarded

    return wrap


# --- extraction ------------------------------------------------------------------------------

_BOX = re.compile(r"\\(?:boxed|fbox)(?![a-zA-Z])")
_BOX_TOKEN = re.compile(r"\\[a-zA-Z]+|[^\s$\\{}]+")
_LABEL_TEXT = re.compile(
    r"^\\text\s*\{\s*(?:정답|답|final answer|answer)\s*(?:은|는)?\s*[:：]?\s*\}\s*", re.I
)


_LAYOUT_EDGES = re.compile(r"^(?:\s|\\\\|\\n(?![a-zA-Z]))+|(?:\s|\\\\|\\n(?![a-zA-Z]))+$")


def _strip_wrappers(ans: str) -> str:
    if len(ans) > MAX_ANSWER_CHARS:
        return ans.strip()  # not an answer anyway; keep the work linear
    for _ in range(50):
        prev = ans
        # A trailing TeX line break ("42\\") and a literal "\n" left in the data are layout.
        ans = _LAYOUT_EDGES.sub("", ans).strip()
        for left, right in (("$$", "$$"), ("$", "$"), ("\\(", "\\)"), ("\\[", "\\]")):
            if len(ans) >= len(left) + len(right) and ans.startswith(left) and ans.endswith(right):
                ans = ans[len(left) : len(ans) - len(right)]
                break
        ans = _LABEL_TEXT.sub("", ans)
        ans = re.sub(r"(?<!\.)(?:\.|。|\\\.)$", "", ans.strip())
        m = re.match(r"\\(?:boxed|fbox)\s*\{", ans)
        if m and closing_brace(ans, m.end() - 1) == len(ans) - 1:
            ans = ans[m.end() : -1]  # \boxed{\boxed{3}}
        elif ans.startswith("{") and closing_brace(ans, 0) == len(ans) - 1:
            ans = ans[1:-1]  # a group around the whole answer: {\log_2 3}
        if ans == prev:
            break
    return ans.strip()


@_never_raises(None)
def extract_boxed_answer(text: str | None) -> str | None:
    r"""Content of the last complete \boxed{...} / \fbox{...} / `\boxed 3`, wrappers stripped.

    "so \boxed{\frac{\sqrt{3}}{2}}." -> "\frac{\sqrt{3}}{2}"; no box or an unclosed last box
    (a truncated generation) -> None; "\boxed{ }" -> "" (empty box); a box only inside
    <think>...</think> -> None (reasoning is not the answer).
    """
    return _last_box(text)


def _boxes(text) -> tuple[str, list[tuple[int, str]]]:
    """(final text, [(start, raw content)] of every box in it); no boxes when the last one is
    unclosed (the generation was cut off)."""
    if not isinstance(text, str):
        return "", []
    if "think>" in text:
        # Only the final content counts: a box inside <think>...</think> is reasoning, and an
        # unclosed <think> is a generation cut off before its answer.
        text = split_reasoning(text)[1]
    found = []
    pos = 0
    while (m := _BOX.search(text, pos)) is not None:
        j = m.end()
        while j < len(text) and text[j] in " \t":
            j += 1
        if j < len(text) and text[j] == "{":
            end = closing_brace(text, j)
            if end == -1:
                return text, []
            found.append((m.start(), text[j + 1 : end]))
            pos = end + 1
        else:
            tok = _BOX_TOKEN.match(text, j)
            found.append((m.start(), tok.group(0) if tok else ""))
            pos = tok.end() if tok else j
    return text, found


def _last_box(text) -> str | None:
    found = _boxes(text)[1]
    return _strip_wrappers(found[-1][1]) if found else None


_BOX_LABEL = re.compile(r"(?<![A-Za-z\\])([A-Za-z](?:_\{?\w+\}?)?)\s*=\s*\$?\s*$")
MAX_BOXES = 12


def _last_boxes_joined(text: str | None, k: int) -> str | None:
    r"""The last k boxes as one k-part answer, each with the simple name written right before it.

    ("x=\boxed{2}, y=\boxed{7}", 2) -> "x=2, y=7"; ("\boxed{(1,4)} and \boxed{(4,1)}", 2) ->
    "(1,4), (4,1)"; fewer than k complete boxes -> None.
    """
    final, found = _boxes(text)
    if not 2 <= k <= MAX_BOXES or len(found) < k:
        return None
    parts = []
    for start, raw in found[-k:]:
        label = _BOX_LABEL.search(final, max(0, start - 30), start)
        parts.append((f"{label.group(1)}=" if label else "") + _strip_wrappers(raw))
    return ", ".join(parts) if all(p.strip() for p in parts) else None


# --- normalisation ---------------------------------------------------------------------------

_CIRCLED = "①②③④⑤⑥⑦⑧⑨⑩"
_CHAR_MAP = str.maketrans(
    {
        "−": "-",  # Unicode minus
        "–": "-",
        "—": "-",
        "﹣": "-",
        "－": "-",
        "＋": "+",
        "×": "\\times ",
        "÷": "\\div ",
        "·": "\\cdot ",
        "⋅": "\\cdot ",
        "π": "\\pi ",
        "∞": "\\infty ",
        "≤": "\\leq ",
        "≥": "\\geq ",
        "≠": "\\neq ",
        "√": "\\sqrt",
        "°": "°",
        "，": ",",
        "：": ":",
        "（": "(",
        "）": ")",
        "…": "...",
        "½": "\\frac{1}{2}",
        "⅓": "\\frac{1}{3}",
        "⅔": "\\frac{2}{3}",
        "¼": "\\frac{1}{4}",
        "¾": "\\frac{3}{4}",
        "²": "^{2}",
        "³": "^{3}",
        "\u00a0": " ",
        "\u3000": " ",
        **{chr(0xFF10 + i): str(i) for i in range(10)},
        **{
            alt[i]: _CIRCLED[i]
            for alt in ("➀➁➂➃➄➅➆➇➈➉", "❶❷❸❹❺❻❼❽❾❿", "⓵⓶⓷⓸⓹⓺⓻⓼⓽⓾", "➊➋➌➍➎➏➐➑➒➓", "⑴⑵⑶⑷⑸⑹⑺⑻⑼⑽")
            for i in range(10)
        },
    }
)
_UNWRAP = re.compile(
    r"\\(?:text|textrm|textnormal|mathrm|mbox|textbf|mathbf|textit|mathit|mathsf|boxed|"
    r"operatorname|hbox|underline)\s*\{"
)
_SIMPLE_SUBS = [
    (
        re.compile(
            r"\\(?:displaystyle|textstyle|scriptstyle|limits|nolimits|tiny|small|normalsize|"
            r"large|Large|LARGE|huge|Huge|footnotesize|scriptsize|bf|it|rm)(?![a-zA-Z])"
        ),
        "",
    ),
    (re.compile(r"\\left\s*\.|\\right\s*\."), ""),
    (
        re.compile(
            r"\\(?:left|right|bigl|bigr|Bigl|Bigr|biggl|biggr|big|Big|bigg|Bigg)(?![a-zA-Z])"
        ),
        "",
    ),
    (re.compile(r"\\(?:color|textcolor)\s*\{[^{}]*\}"), ""),  # \color{red}{7}: the 7 stays
    (re.compile(r"\\[dtc]frac(?![a-zA-Z])"), r"\\frac"),
    (re.compile(r"\\[dt]binom(?![a-zA-Z])"), r"\\binom"),
    (
        re.compile(r"\\(?:textcircled|circled)\s*\{?\s*([1-9])\s*\}?"),
        lambda m: _CIRCLED[int(m[1]) - 1],
    ),
    (re.compile(r"\\(?:lbrace)(?![a-zA-Z])"), r"\\{"),
    (re.compile(r"\\(?:rbrace)(?![a-zA-Z])"), r"\\}"),
    (
        re.compile(r"\\(?:infin)(?![a-zA-Z])|(?<![a-zA-Z\\])(?:infinity|inf)(?![a-zA-Z])"),
        r"\\infty",
    ),
    # Plain-text spellings: "sqrt(2)", "2pi"
    (re.compile(r"(?<![a-zA-Z\\])sqrt\s*\(([^()]*)\)"), r"\\sqrt{\1}"),
    (re.compile(r"(?<![a-zA-Z\\])sqrt(?=\s*\d)"), r"\\sqrt"),
    (re.compile(r"(?<![a-zA-Z\\])pi(?![a-zA-Z])"), r"\\pi "),
    (re.compile(r"\\varnothing(?![a-zA-Z])|∅|\\\{\s*\\\}"), r"\\emptyset"),
    (re.compile(r">="), r"\\geq "),
    (re.compile(r"<="), r"\\leq "),
    (re.compile(r"!="), r"\\neq "),
    (re.compile(r"\\lt(?![a-zA-Z])"), "<"),
    (re.compile(r"\\gt(?![a-zA-Z])"), ">"),
    (re.compile(r"\\(?:le)(?![a-zA-Z])"), r"\\leq"),
    (re.compile(r"\\(?:ge)(?![a-zA-Z])"), r"\\geq"),
    (re.compile(r"\\(?:ne)(?![a-zA-Z])"), r"\\neq"),
    (re.compile(r"\\(?:dots|ldots|cdots)(?![a-zA-Z])"), "..."),
    (re.compile(r"\^\s*\{\s*\\circ\s*\}|\^\s*\\circ(?![a-zA-Z])|\\degree(?![a-zA-Z])"), "°"),
    (re.compile(r"(\d)\s*(?:\{,\}|\\,)\s*(?=\d{3}(?!\d))"), r"\1"),  # 1{,}000 and 1\,000
    (re.compile(r"\\%"), "%"),
    (re.compile(r"\\\$"), ""),
    (re.compile(r"\\(?:euro|pounds|yen|textdollar|textwon)(?![a-zA-Z])|[€£¥₩]"), ""),  # currency
    (re.compile(r"\$"), " "),  # stray math delimiters: "12 $ and $13"
    (re.compile(r"(?<=\d),\s*\\!\s*(?=\d{3}(?!\d))"), ","),  # 16,\!386: a negative space
    (re.compile(r"(?<!\\)\\(?:,|;|:|!|>| |quad|qquad|enspace|thinspace)(?![a-zA-Z])|~"), " "),
]


def _unwrap_commands(s: str) -> str:
    for _ in range(200):  # bounded: each round removes one wrapper
        m = _UNWRAP.search(s)
        if not m:
            break
        end = closing_brace(s, m.end() - 1)
        if end == -1:
            s = s[: m.start()] + s[m.end() :]
            continue
        s = s[: m.start()] + " " + s[m.end() : end] + " " + s[end + 1 :]
    return s


def _brace_args(s: str) -> str:
    r"""\frac12 -> \frac{1}{2}, \sqrt10 -> \sqrt{10}, \frac1x -> \frac{1}{x}."""
    s = re.sub(r"\{([^{}]*)\\over(?![a-zA-Z])([^{}]*)\}", r"\\frac{\1}{\2}", s)  # {1 \over 2}
    s = re.sub(r"\\frac\s*([0-9a-zA-Z])\s*([0-9a-zA-Z])", r"\\frac{\1}{\2}", s)
    s = re.sub(r"\\frac\s*(\{[^{}]*\})\s*([0-9a-zA-Z])", r"\\frac\1{\2}", s)
    s = re.sub(r"\\frac\s*([0-9a-zA-Z])\s*(\{)", r"\\frac{\1}\2", s)
    # \sqrt10 is \sqrt{1}0 to TeX, but every writer means the square root of 10.
    s = re.sub(r"\\sqrt\s*([0-9]+|[a-zA-Z])", r"\\sqrt{\1}", s)
    s = re.sub(r"\\sqrt\s*(\\[a-zA-Z]+)", r"\\sqrt{\1}", s)
    s = re.sub(r"_\s*([0-9]+|[a-zA-Z])", r"_{\1}", s)  # \log_10 100: base 10, as meant
    return s


def normalize_latex(s: str) -> str:
    r"""Canonical LaTeX spelling, meaning unchanged.

    "$\dfrac{3}{2}$\n" -> "\frac{3}{2}"; "\left( 1,\ 2 \right)" -> "( 1, 2 )"; "15\text{개}" -> "15 개".
    """
    s = str(s).translate(_CHAR_MAP)
    s = _strip_wrappers(s)
    s = _unwrap_commands(s)
    for pattern, repl in _SIMPLE_SUBS:
        s = pattern.sub(repl, s)
    s = _brace_args(s)
    s = re.sub(r"\s+", " ", s).strip()
    while s.startswith("{") and closing_brace(s, 0) == len(s) - 1:
        s = s[1:-1].strip()  # what \color{red}{...} and friends leave behind
    return re.sub(r"(?<!\.)(?:\.|。)$", "", s).strip()


_LABEL = re.compile(
    r"^(?:\(\s*(?:정답|답)\s*\)|\\(?:therefore|Rightarrow|Longrightarrow|implies)(?![a-zA-Z])|"
    r"정답|답|최종\s*답|(?:the )?final answer(?: is)?|the answer is|answer|therefore|thus|so|따라서)"
    r"\s*(?:은|는|:)?\s*:?\s*",
    re.I,
)
_UNITS = r"(?:m|g|L|s|h)(?:\s*\^\s*\{?[23]\}?|[²³])?"
_LONG_UNITS = (
    r"(?:(?:cm|mm|km|m)\s*/\s*(?:s|sec|h|hr|min)(?:\s*\^\s*\{?2\}?)?|"  # speeds: 12 m/s, 3 km/h
    r"(?:cm|mm|km|kg|mg|ml|mL|sec|min|hr|cc)(?:\s*\^\s*\{?[23]\}?|[²³])?)"
)
_WORD_UNITS = (
    r"(?:(?:square|sq\.?|cubic)\s+)?(?:meters?|metres?|centimeters?|millimeters?|kilometers?|"
    r"inches|inch|feet|foot|ft|yards?|miles?|units?|degrees?|dollars?|cents?|hours?|minutes?|"
    r"seconds?|days?|weeks?|months?|years?|grams?|kilograms?|liters?|litres?|people|students|ways|"
    r"radians?|rad|mph|pounds?|points?|digits?|integers?|edges?|multiples?|gm|"
    r"(?:miles|kilometers|meters|feet) per (?:hour|minute|second))"
    r"(?:\s*\^\s*\{?[23]\}?|[²³])?"
)
# Only known counters and copulas are stripped: "3이 아니다", "3 이상", "3만", "3의 제곱" keep
# their words and so never match 3.
_COUNTERS = (
    "개|가지|명|마리|권|장|자루|대|살|세|원|점|쌍|곳|회|번째|번|째|시간|분|초|일|년|개월|달|쪽|"
    "병|송이|그루|켤레|벌|채|층|칸|줄|조각|팀|상자|잔|배|도|개수|종류|가지 경우|가지 방법|경우|센티미터|"
    "미터|킬로미터|그램|킬로그램|리터|퍼센트|제곱센티미터|세제곱센티미터"
)
_COPULAS = "이다|입니다|이에요|예요|이며|임|이고|이|가|은|는|다"
_TRAILING_WORDS = re.compile(
    rf"(?<=[^가-힣\s,])\s*(?:{_COUNTERS}|\((?:{_COUNTERS})\))?\s*(?:{_COPULAS})?\s*(?<!\.)[.。]?\s*$"
)
_LEADING_WORDS = re.compile(r"^[가-힣\s]+(?:은|는|:)\s*(?=[^\s가-힣])")
# A bare Korean label before a value ("최댓값 5"); words that change the value are kept:
# "약 3" is only about 3, "루트 3" is sqrt(3), "마이너스 3" is -3.
_VALUE_WORDS = (
    "약|대략|거의|약간|적어도|많아야|최소한|최대한|마이너스|플러스|음수|양수|루트|제곱근|세제곱근|"
    "제곱|세제곱|로그|역수|빼기|더하기|곱하기|나누기|영점"
)
_LEADING_LABEL = re.compile(rf"^(?!(?:{_VALUE_WORDS})(?![가-힣]))[가-힣]+\s*:?\s*(?=[-+\d\\(])")
# A unit set in upright text after any value: "\frac{3}{2}\ \text{m}", "4\pi\,\mathrm{cm}^2".
# Upright type marks it as a unit, so even a one-letter one is not a variable.
_TEXT_UNIT = re.compile(
    r"(?<=\S)(?:\s|\\[,;: ]|~)*\\(?:text|mathrm|textrm|mbox|rm)\s*\{\s*"
    r"(?:m|g|L|s|h|cm|mm|km|kg|mg|ml|mL|sec|min|hr|cc|m/s|km/h|rad)(?:\s*\^\s*\{?[23]\}?)?\s*\}"
    r"(?:\s*\^\s*\{?\s*[23]\s*\}?)?\s*$"
)
_TRIG_DEGREES = re.compile(r"(\\(?:sin|cos|tan|sec|csc|cot))\s*\(?\s*(\d+(?:\.\d+)?)\s*°\s*\)?")
_SEPARATOR_WORDS = re.compile(r"\s+(?:or|and|또는|혹은|및|이고|그리고)\s+")


_REPEATING = re.compile(
    r"(\d*)\.(\d*)(?:\\overline\s*\{(\d+)\}|\\dot\s*\{?(\d)\}?(\d*)\\dot\s*\{?(\d)\}?|\\dot\s*\{?(\d)\}?)"
)


def _repeating(m: re.Match) -> str:
    r"""0.\overline{3} / 0.\dot{3} -> \frac{3}{9}; 0.1\dot{2}\dot{3} -> \frac{122}{990}."""
    whole, fixed = m[1] or "0", m[2]
    period = m[3] or (m[4] + m[5] + m[6] if m[4] else m[7])
    den = 10 ** len(fixed) * (10 ** len(period) - 1)
    num = int(whole + fixed + period) - int(whole + fixed)
    return f"\\frac{{{num}}}{{{den}}}"


def _canonical_spaces(s: str) -> str:
    # Keep a space only where removing it would merge two tokens: "3 4", "\pi r", and after a
    # comma between digits: "12, 345" is a list of two numbers, "12,345" one number.
    s = re.sub(r"(?<=\d) (?=\d)|(?<=\d,) (?=\d)", "\x00", s)
    s = re.sub(r"(?<=[A-Za-z]) (?=[A-Za-z])", "\x00", s)
    return s.replace(" ", "").replace("\x00", " ")


_PROSE = re.compile(
    r"(?P<value>(?:[^{}\\]|\\(?!text|mbox|mathrm)[a-zA-Z]+(?![a-zA-Z])|\\[^a-zA-Z]|\{[^{}]*\})+?)"
    r"(?<=[\w}])"
    r"(?:\s|\\[,;: ]|~)*\\(?:text|textrm|mbox)\s*\{(?P<words>[^{}]*)\}\s*\.?"
)
# Words that change, bound or multiply the value before them: "9 \text{ or more}" is not 9.
_VALUE_CHANGING = frozenset(
    "or and to not no nor than less more least most fewer greater smaller larger at about approx "
    "approximately roughly nearly almost around over under above below between except times "
    "million millions billion billions thousand thousands hundred hundreds dozen dozens half "
    "halves quarter quarters third thirds percent per squared cubed plus minus negative positive "
    "if when where for with without unless each every all only".split()
)


def _drop_prose(s: str) -> str:
    r"""A value followed by words in \text: the words go. "9\text{ any words}" -> "9";
    "9\text{ or more}" keeps its words (they change the value), and so does a one-letter word
    (a unit or a variable: "\text{ m}" is for the unit rules)."""
    m = _PROSE.fullmatch(s.strip()) if "\\text" in s and len(s) < 500 else None
    if m is None or not re.fullmatch(r"\s*[A-Za-z][A-Za-z\s,.'’!-]*", m["words"]):
        return s
    words = [w.lower() for w in re.findall(r"[A-Za-z]+", m["words"])]
    if any(len(w) == 1 and w not in ("a", "i") for w in words) or not set(words).isdisjoint(
        _VALUE_CHANGING
    ):
        return s
    return m["value"]


def normalize_answer(s: str) -> str:
    r"""normalize_latex plus answer-level cleanup: labels, Korean words and units around the value.

    "\text{답: } 15\text{개}" -> "15"; "483\,\mathrm{cm}" -> "483"; "x = \dfrac12" -> "x=\frac{1}{2}".
    """
    s = normalize_latex(_drop_prose(_TEXT_UNIT.sub("", _strip_wrappers(str(s)))))
    # Korean readings of a fraction and a root: "3분의 1" is 1/3, "루트 3" is sqrt(3).
    s = re.sub(r"(\d+)\s*분의\s*(\d+)", r"\\frac{\2}{\1}", s)
    s = re.sub(r"루트\s*(\d+)", r"\\sqrt{\1}", s)
    # Degrees inside trig functions are angles, not decorations: \sin 30° = \sin(\pi/6).
    s = _TRIG_DEGREES.sub(r"\1(\\frac{\2\\pi}{180})", s)
    for _ in range(3):
        before = s
        s = _LABEL.sub("", s).strip()
        stripped = _LEADING_WORDS.sub("", s.lstrip(":"))
        stripped = _LEADING_LABEL.sub("", stripped)
        stripped = _TRAILING_WORDS.sub("", stripped)
        stripped = re.sub(r"(?<=\S)\s*\(\s*(?:정답|답)\s*\)$", "", stripped)  # "12 (답)"
        stripped = re.sub(r"(?:(?<=[\d})])|(?<=\\pi))\s*" + _LONG_UNITS + "$", "", stripped)
        stripped = re.sub(r"(?<=[\d})])\s*(?:percent|percentage|pct)$", "%", stripped)
        stripped = re.sub(r"(?:(?<=[\d})])|(?<=\\pi))\s+" + _WORD_UNITS + "$", "", stripped)
        # A bare number glued to square or cubic metres: "1,200m²"
        stripped = re.sub(r"^([-+]?[\d.,]+)\s*m\s*\^\s*\{?[23]\}?$", r"\1", stripped)
        # One-letter units only after a number or surd: "5 m", "10\sqrt{3} m"; after \pi or a
        # fraction the letter may be a variable ("2\pi h", "\frac{1}{2} h") and stays.
        stripped = re.sub(r"^((?:[-+\d., ]|\\sqrt\s*\{\d+\})+?)\s+" + _UNITS + "$", r"\1", stripped)
        stripped = re.sub(r"(?<=\S)\s*°$", "", stripped)
        stripped = re.sub(
            r"(?<=\d)\s*(?:\^\s*\{?\s*)?(?:th|st|nd|rd)\s*\}?$", "", stripped
        )  # 5^{th}
        if stripped.strip():
            s = stripped.strip()
        if s == before:
            break
    s = _SEPARATOR_WORDS.sub(", ", s)
    s = re.sub(r"(?<=[\d}])\s*(?:와|과)\s+(?=[-\d\\a-zA-Z])", ", ", s)  # "2와 3", "x=1과 x=2"
    # "0.1666..." spells the repeating 6 out: 0.1\overline{6}
    s = re.sub(r"(\d*)\.(\d*?)(\d)\3\3+\s*\.\.\.", r"\1.\2\\overline{\3}", s)
    s = _REPEATING.sub(_repeating, s)
    return _canonical_spaces(s)


# --- decision --------------------------------------------------------------------------------

# How indirect a match's evidence is: a list matches with the reason of its weakest item.
_WEAKNESS = {"match_exact": 0, "match_numeric": 1, "match_choice": 1, "match_symbolic": 2}
_THOUSANDS = re.compile(r"[+-]?\d{1,3}(?:(?:,\d{3})+|(?: \d{3})+)(?:\.\d+)?")
_SIMPLE_LHS = re.compile(r"(?:\\[a-zA-Z]+|[a-zA-Z])(?:_\{?\w+\}?)?(?:\([a-z]\))?'*")
_NON_LATEX = re.compile(r"[^\x00-\x7f]")
_JAMO_SET = re.compile(r"[ㄱ-ㅎ][ㄱ-ㅎ,와과및 ]*")


def _gold_text(gold) -> str | None:
    if gold is None or isinstance(gold, bool):
        return None
    if isinstance(gold, int):
        return str(gold)
    if isinstance(gold, float):
        if gold != gold or gold in (float("inf"), float("-inf")):
            return None
        return str(int(gold)) if gold.is_integer() and abs(gold) < 1e15 else repr(gold)
    if isinstance(gold, str):
        return gold
    return None


def _choice(s: str) -> int | None:
    """Choice number of "③", "③ \frac12", "(3)", "3" (after normalisation), else None."""
    m = re.fullmatch(r"\(?([①-⑩])\)?(.*)", s, re.S)
    if m:
        if re.search("[①-⑩]", m.group(2)):
            return None  # "③, ④": two choices is no answer
        return _CIRCLED.index(m.group(1)) + 1
    m = re.fullmatch(r"\(?([1-9])\)?(?:번)?", s)
    return int(m.group(1)) if m else None


def _split_top(s: str) -> list[str]:
    parts, depth, cur, i = [], 0, [], 0
    while i < len(s):
        ch = s[i]
        if ch == "\\" and i + 1 < len(s) and s[i + 1] in "{}":
            depth += 1 if s[i + 1] == "{" else -1
            cur.append(s[i : i + 2])
            i += 2
            continue
        if ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth -= 1
        if ch in ",;" and depth == 0:
            parts.append("".join(cur).strip())
            cur = []
        else:
            cur.append(ch)
        i += 1
    parts.append("".join(cur).strip())
    return parts


def _wraps(s: str) -> bool:
    """The bracket at s[0] closes at s[-1] (any of ( [ with any of ) ], for intervals)."""
    depth = 0
    for i, ch in enumerate(s):
        if ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth -= 1
            if depth == 0 and i != len(s) - 1:
                return False
    return depth == 0


def _wraps_set(s: str) -> bool:
    r"""The \{ at s[0:2] closes at the very end."""
    depth, i = 0, 0
    while i < len(s):
        if s.startswith("\\{", i) or s.startswith("\\}", i):
            depth += 1 if s[i + 1] == "{" else -1
            if depth == 0 and i != len(s) - 2:
                return False
            i += 2
            continue
        i += 1
    return depth == 0


def _structure(s: str):
    if _THOUSANDS.fullmatch(s):
        return ("scalar", s.replace(",", "").replace(" ", ""))
    if s.count("\\begin{") > 1 or ("\\begin{" in s and not s.startswith(("\\begin", "[", "("))):
        value = matrix_value(s)  # arithmetic on matrices: "A+B", "2A", "AB", evaluated exactly
        if value is not None:
            return ("matrix", value)
    m = re.fullmatch(r"\\begin\{([pbvBV]?matrix|array)\}(?:\{[^}]*\})?(.*)\\end\{\1\}", s, re.S)
    if m is None:  # "[\begin{array}{cc}...\end{array}]": brackets drawn around a bare array
        m = re.fullmatch(
            r"[(\[]\\begin\{(matrix|array)\}(?:\{[^}]*\})?(.*)\\end\{\1\}[)\]]", s, re.S
        )
    if m:
        rows = [r for r in re.split(r"\\\\", m.group(2)) if r.strip()]
        return ("matrix", [[c.strip() for c in r.split("&")] for r in rows])
    if _JAMO_SET.fullmatch(s) and len(re.findall("[ㄱ-ㅎ]", s)) > 1:
        return ("set", sorted(re.findall("[ㄱ-ㅎ]", s)))
    if s.startswith("\\{") and s.endswith("\\}") and _wraps_set(s):
        return ("set", [p for p in _split_top(s[2:-2])])
    if len(s) >= 2 and s[0] in "([" and s[-1] in ")]" and _wraps(s):
        items = _split_top(s[1:-1])
        if len(items) == 1:
            return _structure(items[0]) if s[0] + s[-1] == "()" else ("seq", s[0], s[-1], items)
        return ("seq", s[0], s[-1], items)
    if s.count("\\pm") == 1:
        left, right = s.split("\\pm")
        if right and not re.search(r"[=,]", s):
            return ("set", [f"{left}+{right}", f"{left}-{right}"] if left else [right, f"-{right}"])
    if "\\cup" in s:
        return ("union", [p.strip() for p in s.split("\\cup")])
    items = _split_top(s)
    if len(items) > 1:
        return ("set", items)
    return ("scalar", s)


def _weakest_match(reasons: list[str]) -> str:
    """The reason a list of matched items gets: ["match_exact", "match_symbolic"] ->
    "match_symbolic"; an empty list matched exactly."""
    return max(reasons, key=lambda r: _WEAKNESS.get(r, 0)) if reasons else "match_exact"


# Lists inside lists are compared item by item down to this many levels, each of at most this
# many items; anything larger is a mismatch (unordered lists compare every pair of items).
MAX_LIST_LEVELS = 4
MAX_LIST_ITEMS = 30


def _compare_lists(rs: list, gs: list, ordered: bool, depth: int) -> tuple[bool, str]:
    """Items of two tuples / sets / matrices, in order or as a matching: (["1", "2"], ["2", "1"],
    ordered=False) -> (True, "match_exact"); a failed item gives its reason."""
    if len(rs) != len(gs) or len(gs) > MAX_LIST_ITEMS or depth > MAX_LIST_LEVELS:
        return False, "mismatch"
    reasons, failure = [], "mismatch"
    if ordered:
        for r, g in zip(rs, gs, strict=True):
            ok, why = _compare_normalized(r, g, depth + 1)
            if not ok:
                return False, why
            reasons.append(why)
        return True, _weakest_match(reasons)
    unused = list(range(len(rs)))
    for g in gs:
        for k in unused:
            ok, why = _compare_normalized(rs[k], g, depth + 1)
            if ok:
                unused.remove(k)
                reasons.append(why)
                break
            if why in ("timeout", "unparseable"):
                failure = why
        else:
            return False, failure
    return True, _weakest_match(reasons)


def _assigned(items: list[str]) -> list[str] | None:
    """["x=1", "y=2"] -> ["1", "2"]; None unless every item assigns a simple variable."""
    pairs = [i.split("=") for i in items]
    if all(len(p) == 2 and _SIMPLE_LHS.fullmatch(p[0]) and p[1] for p in pairs):
        return [p[1] for p in pairs]
    return None


_IN = re.compile(r"\\in(?![a-zA-Z])")
_VAR = re.compile(r"[a-zA-Z](?:_\{?\w+\}?)?(?:\([a-z]\))?")  # x, x_1, g(x): what a relation bounds
_RELATION = re.compile(r"(<|>|\\leq(?![a-zA-Z])|\\geq(?![a-zA-Z]))")
_SET_BUILDER = re.compile(r"\\\{([a-zA-Z])(?:\||\\mid(?![a-zA-Z])|:)(.+)\\\}")


def _interval_like(s: str) -> bool:
    r"""An interval or a union of them: "[1,3)", "(-\infty,2)\cup(3,\infty)"."""
    return (s[:1] in "([" and s[-1:] in ")]" and "," in s) or "\\cup" in s


def _one_interval(s: str, var: str | None) -> str | None:
    r"""One relation in one variable as an interval: "3>x\geq1" -> "[1,3)", "x<2" -> "(-\infty,2)"."""
    parts = [p.strip() for p in _RELATION.split(s)]
    ops, values = parts[1::2], parts[0::2]
    if len(parts) == 3 and _VAR.fullmatch(values[1]) and not _VAR.fullmatch(values[0]):
        flip = {"<": ">", ">": "<", "\\leq": "\\geq", "\\geq": "\\leq"}
        ops, values = [flip[ops[0]]], values[::-1]  # "2 > x" is "x < 2"
    if len(parts) == 3:
        x, (op,), bound = values[0], ops, values[1]
        values, ops = (
            (["-\\infty", x, bound], ["<", op])
            if op in ("<", "\\leq")
            else ([bound, x, "\\infty"], [{">": "<", "\\geq": "\\leq"}[op], "<"])
        )
    if len(values) != 3 or not _VAR.fullmatch(values[1]) or var not in (None, values[1]):
        return None
    if ops[0] in (">", "\\geq") and ops[1] in (">", "\\geq"):
        values, ops = values[::-1], [{">": "<", "\\geq": "\\leq"}[o] for o in ops[::-1]]
    if not all(o in ("<", "\\leq") for o in ops) or not values[0] or not values[2]:
        return None
    left = "(" if ops[0] == "<" else "["
    right = ")" if ops[1] == "<" else "]"
    return f"{left}{values[0]},{values[2]}{right}"


def _relation_interval(s: str) -> str | None:
    r"""The interval a one-variable relation describes, else None.

    "1\leq x<3" -> "[1,3)"; "x\geq2" -> "[2,\infty)"; "\{x|x<-2\}" -> "(-\infty,-2)";
    "x<-2,x>2" -> "(-\infty,-2)\cup(2,\infty)".
    """
    var = None
    m = _SET_BUILDER.fullmatch(s)
    if m:
        var, s = m.group(1), m.group(2)
    parts = _split_top(s)
    if len(parts) > 4 or not all(_RELATION.search(p) for p in parts):
        return None
    found = [_one_interval(p, var) for p in parts]
    if any(f is None for f in found):
        return None
    return "\\cup".join(found)


def _drop_lhs(a: str, b: str) -> tuple[str, str]:
    r"""Drop a simple left-hand side unless b is an equation too: ("x\in[1,2]", "[1,2]") ->
    ("[1,2]", "[1,2]"); ("(x,y)=(2,3)", "(2,3)") -> ("(2,3)", "(2,3)")."""
    m = re.match(
        r"((?:\\[a-zA-Z]+|[a-zA-Z])(?:_\{?\w+\}?)?|\([a-z](?:,[a-z])+\))(=|\\in(?![a-zA-Z]))", a
    )
    rest = a[m.end() :] if m else ""
    if m and "=" not in b + rest and not _IN.search(b + rest):  # \infty is not \in
        return a[m.end() :], b
    return a, b


def _vector(structure) -> list[str] | None:
    """Entries of a tuple "(a, b)" or of a one-column / one-row matrix, else None."""
    if structure[0] == "seq" and structure[1:3] == ("(", ")"):
        return structure[3]
    if structure[0] == "matrix":
        rows = structure[1]
        if all(len(row) == 1 for row in rows):
            return [row[0] for row in rows]
        if len(rows) == 1:
            return rows[0]
    return None


def _compare_normalized(r: str, g: str, depth: int = 0) -> tuple[bool, str]:
    """Two normalised answers: structure first (tuples, intervals, sets, matrices), then single
    values. ("[1,3)", "1\\leq x<3") -> (True, "match_exact")."""
    if r == g:
        return True, "match_exact"
    r, g = _drop_lhs(r, g)
    g, r = _drop_lhs(g, r)  # the gold may name the variable too: "x \in (1, 2)"
    if depth == 0 and (_SET_BUILDER.fullmatch(r) or _SET_BUILDER.fullmatch(g)):
        r, g = _relation_interval(r) or r, _relation_interval(g) or g  # {x | x > 2} and x > 2
    if depth == 0 and _interval_like(g) != _interval_like(r):
        # "1 \leq x < 3" against "[1, 3)": the same set of reals, written two ways
        r, g = (
            (_relation_interval(r) or r, g)
            if _interval_like(g)
            else (r, _relation_interval(g) or g)
        )
    r, g = _decimal_comma(r, g), _decimal_comma(g, r)
    rs, gs = _structure(r), _structure(g)
    if rs[0] == "scalar" and gs[0] == "scalar":
        return _compare_scalars(rs[1], gs[1])
    # "x=1, y=2" against the ordered pair "(1, 2)", either way round
    if rs[0] == "set" and gs[0] == "seq" and gs[1:3] == ("(", ")") and _assigned(rs[1]):
        return _compare_lists(_assigned(rs[1]), gs[3], ordered=True, depth=depth)
    if gs[0] == "set" and rs[0] == "seq" and rs[1:3] == ("(", ")") and _assigned(gs[1]):
        return _compare_lists(rs[3], _assigned(gs[1]), ordered=True, depth=depth)
    # A vector written as a column (or row) matrix or as a tuple: "(1, 2)" = pmatrix 1 \\ 2
    vectors = [_vector(x) for x in (rs, gs)]
    if None not in vectors and "matrix" in (rs[0], gs[0]) and rs[0] != gs[0]:
        return _compare_lists(vectors[0], vectors[1], ordered=True, depth=depth)
    if rs[0] != gs[0]:
        return False, "mismatch"
    if rs[0] == "set":
        return _compare_lists(rs[1], gs[1], ordered=False, depth=depth)
    if rs[0] == "union":
        return _compare_lists(rs[1], gs[1], ordered=False, depth=depth)
    if rs[0] == "seq":
        if rs[1:3] != gs[1:3]:
            return False, "mismatch"
        return _compare_lists(rs[3], gs[3], ordered=True, depth=depth)
    if rs[0] == "matrix":
        if [len(row) for row in rs[1]] != [len(row) for row in gs[1]]:
            return False, "mismatch"
        flat = lambda m: [c for row in m for c in row]  # noqa: E731
        return _compare_lists(flat(rs[1]), flat(gs[1]), ordered=True, depth=depth)
    return False, "mismatch"


_DECIMAL_COMMA = re.compile(r"([-+]?\d+),(\d+)")


def _decimal_comma(a: str, other: str) -> str:
    """Decimal comma: "0,25" -> "0.25" where it cannot be a list: the other side is one number,
    and the comma is not a thousands separator (three digits after it, "1,250", unless the whole
    part is 0). A comma followed by a space never gets here as one number: "12, 345" is a list."""
    m = _DECIMAL_COMMA.fullmatch(a)
    if m is None or (len(m[2]) == 3 and m[1].lstrip("+-") != "0") or "," in other:
        return a
    return f"{m[1]}.{m[2]}" if parse_exact(other) is not None else a


_TIME = re.compile(r"(\d{1,2}):(\d{2})(?::(\d{2}))?")


def _compare_times_or_ratios(r: str, g: str) -> tuple[bool, str] | None:
    r"""Clock times and ratios; None when neither side has a colon. SymPy would read "a:b" as a
    division, so "1:00" would equal "12:00": a colon never reaches it.

    "3:45" is a time: only the same time matches ("03:45"). A gold ratio "3:4" takes "6:8" and
    "\frac34"; a ratio answer against a gold that is not a ratio is a mismatch.
    """
    if ":" not in r and ":" not in g:
        return None
    tr, tg = _TIME.fullmatch(r), _TIME.fullmatch(g)
    if tr or tg:
        same = bool(tr and tg) and [int(x or 0) for x in tr.groups()] == [
            int(x or 0) for x in tg.groups()
        ]
        return same, "match_exact" if same else "mismatch"
    g_parts, r_parts = g.split(":"), r.split(":")
    if ":" not in g or len(g_parts) > 3:
        return False, "mismatch"
    gv = [parse_exact(part) for part in g_parts]
    if ":" in r:
        rv = [parse_exact(part) for part in r_parts]
    elif len(g_parts) == 2:
        rv = [parse_exact(r), parse_exact("1")]
    else:
        return False, "mismatch"
    if len(rv) != len(gv) or any(v is None or not v.terms for v in gv + rv):
        return False, "mismatch"
    same = all(rv[i] * gv[0] == gv[i] * rv[0] for i in range(1, len(gv)))
    return same, "match_numeric" if same else "mismatch"


def _values_to_compare(r: str, g: str) -> tuple[str, str]:
    """What an equation and a value state, to compare: ("x=5", "5") -> ("5", "5"), ("p+q=17",
    "17") -> ("17", "17"), ("5=x", "5") -> ("5", "5"), ("x=3+2=5", "x=5") -> ("5", "5")."""
    if _IN.search(r) and not _IN.search(g) and _SIMPLE_LHS.fullmatch(_IN.split(r)[0]):
        r = _IN.split(r, 1)[1]  # "x \in [1, 2]"
    if "\\approx" in r:
        exact = r.split("\\approx", 1)[0]
        if exact and (exact in ("\\pi", "\\infty") or not _SIMPLE_LHS.fullmatch(exact)):
            r = exact  # "\frac{\sqrt2}{2} \approx 0.707": the exact value is the answer
        else:
            r = r.replace("\\approx", "=")  # "x \approx 1.414214": the decimal rule applies
    r_eq, g_eq = r.count("=") == 1, g.count("=") == 1
    if "=" in r and "=" not in g:
        lhs, rhs = r.rsplit("=", 1)  # "x = 3 + 2 = 5": the last value
        if r_eq and _SIMPLE_LHS.fullmatch(rhs) and not _SIMPLE_LHS.fullmatch(lhs):
            return lhs, g  # "5 = x"
        return rhs, g
    if g_eq and "=" not in r:
        lhs, rhs = g.split("=")
        return (r, rhs) if _SIMPLE_LHS.fullmatch(lhs) else (r, g)
    if "=" in r and "=" in g:
        r_parts, g_parts = r.split("="), g.split("=")
        if r_parts[0] == g_parts[0] and _SIMPLE_LHS.fullmatch(g_parts[0]):
            return r_parts[-1], g_parts[-1]  # "x = 5+5+1 = 11" against "x = 11"
        if r_eq and g_eq and r_parts[0] == g_parts[0]:
            return r_parts[1], g_parts[1]
    return r, g


def _compare_scalars(r: str, g: str) -> tuple[bool, str]:
    r"""Two single values (no list structure): strings, then exact arithmetic, then SymPy.
    ("x=\frac{3}{2}", "1.5") -> (True, "match_numeric")."""
    if r == g:
        return True, "match_exact"
    r, g = _LEADING_LABEL.sub("", r) or r, _LEADING_LABEL.sub("", g) or g  # "최댓값5, 최솟값1"
    if r == g:
        return True, "match_exact"
    if len(g) > 1 and r.lower() == g.lower() and not re.search(r"[\\\d]", g):
        return True, "match_exact"  # text answers: "Yes" / "yes"
    colon = _compare_times_or_ratios(r, g)
    if colon is not None:
        return colon
    r, g = _values_to_compare(r, g)
    if not r or not g:
        return False, "mismatch"
    r, g = _cancel_huge(r), _cancel_huge(g)
    if r == g:
        return True, "match_exact"
    r_alts = [r, r[:-1]] if r.endswith("%") else [r]
    g_alts = [g, g[:-1]] if g.endswith("%") else [g]
    parsed = False
    for ra in r_alts:
        for ga in g_alts:
            rv, gv = parse_exact(ra), parse_exact(ga)
            if rv is None or gv is None:
                continue
            parsed = True
            if rv == gv:
                return True, "match_numeric"
            if decimal_digits(ra) and not terminates(gv) and decimal_matches(ra, gv):
                return True, "match_numeric"
            if decimal_digits(ga) and not terminates(rv) and decimal_matches(ga, rv):
                return True, "match_numeric"
    if parsed:
        return False, "mismatch"
    if _NON_LATEX.search(r) or _NON_LATEX.search(g):
        return False, "mismatch"  # Korean words or symbols left in the value: SymPy can't decide
    for text in (r, g):
        # "3 4" and "2\frac12" are ambiguous: SymPy would read them as products.
        if re.search(r"\d \d|\d\\frac|[①-⑩]|\.\.\.", text):
            return False, "mismatch"
    r_letters, g_letters = (
        set(re.findall("[A-Za-z]", re.sub(r"\\[a-zA-Z]+", "", t))) for t in (r, g)
    )
    if r_letters != g_letters and {c.lower() for c in r_letters} == {c.lower() for c in g_letters}:
        return False, "mismatch"  # the LaTeX parser folds case: "A" would equal "a"
    equal, failure = run_symbolic(r, g)
    if equal:
        return True, "match_symbolic"
    return False, failure or "mismatch"


def _peel_parens(s: str) -> str:
    """Outer parentheses around the whole answer, removed in one linear pass (no recursion).

    "(((1)))" -> "1"; "((1, 2))" -> "(1, 2)" (one pair makes the tuple); "(1)+(2)" unchanged.
    """
    lead, trail = len(s) - len(s.lstrip("(")), len(s) - len(s.rstrip(")"))
    middle = s[lead : len(s) - trail]
    if not middle.strip() or not lead or not trail:
        return s
    depth = low = 0
    for ch in middle:
        depth += (ch == "(") - (ch == ")")
        low = min(low, depth)
    if lead + depth != trail:
        return s  # unbalanced: leave it to the depth gate
    k = min(lead, trail, lead + low)  # pairs that wrap everything
    if k > 0 and len(_split_top(s[k : len(s) - k])) > 1:
        k -= 1
    return s[k : len(s) - k] if k > 0 else s


_POWER_ONLY = re.compile(r"[\d\s{}()^]*\^[\d\s{}()^]*")


def _cancel_huge(s: str) -> str:
    r"""Cancel equal numeric power terms of opposite sign without evaluating them:
    "10^{10^{12}}-10^{10^{12}}+5" -> "+5". Only numeric powers (finite, however large) cancel;
    \infty - \infty and 1/0 - 1/0 are not 0."""
    if "^" not in s or len(s) > 400:
        return s
    terms, depth, start = [], 0, 0
    for i, ch in enumerate(s):
        depth += (ch in "({[") - (ch in ")}]")
        if ch in "+-" and depth == 0 and i > start and s[i - 1] not in "^{(":
            terms.append(s[start:i])
            start = i
    terms.append(s[start:])
    signed = [(t[0] if t[0] in "+-" else "+", t.lstrip("+-")) for t in terms]
    kept = list(signed)
    for sign, body in signed:
        if not _POWER_ONLY.fullmatch(body):
            continue
        other = ("-" if sign == "+" else "+", body)
        if (sign, body) in kept and other in kept:
            kept.remove((sign, body))
            kept.remove(other)
    if len(kept) == len(signed):
        return s
    return "".join(sign + body for sign, body in kept) or "0"


def _compare_with_gold(extracted: str | None, ground_truth) -> tuple[bool, str]:
    r"""An extracted answer against the gold as stored (choice number, number, text, a solution
    with a box): (r"\dfrac{3}{2}", "1.5") -> (True, "match_numeric"), ("③", 3) -> (True,
    "match_choice"), (None, 3) -> (False, "no_box")."""
    if extracted is None:
        return False, "no_box"
    if isinstance(extracted, int | float) and not isinstance(extracted, bool):
        extracted = str(extracted)
    if not isinstance(extracted, str) or not extracted.strip():
        return False, "empty_box"
    gold = _gold_text(ground_truth)
    if gold is None or not gold.strip():
        return False, "mismatch"
    if "\\boxed" in gold or "\\fbox" in gold:
        gold = _last_box(gold) or gold  # a gold solution: its boxed answer
    if len(extracted) > MAX_ANSWER_CHARS and extracted.lstrip().startswith("(("):
        extracted = _peel_parens(extracted.strip())  # linear; what is left meets the cap or not
    if len(extracted) > MAX_ANSWER_CHARS or len(gold) > MAX_ANSWER_CHARS:
        same = extracted.strip() == gold.strip()
        return same, "match_exact" if same else "unparseable"
    r, g = normalize_answer(extracted), normalize_answer(gold)
    if not r:
        return False, "empty_box"
    if r == g:
        return True, "match_exact"
    if bracket_nesting(r)[0] > MAX_NESTING:
        r = _peel_parens(r)  # "((((1))))": a number in thousands of parentheses is a number
    if bracket_nesting(g)[0] > MAX_NESTING:
        g = _peel_parens(g)
    if bracket_nesting(r)[0] > MAX_NESTING or bracket_nesting(g)[0] > MAX_NESTING:
        return False, "unparseable"
    gold_choice = None
    if isinstance(ground_truth, int) and not isinstance(ground_truth, bool):
        gold_choice = ground_truth if 1 <= ground_truth <= 5 else None
    elif re.match(r"[①-⑤]", g) or re.fullmatch(r"[1-5]", g):
        gold_choice = _choice(g)  # "③", "3", or an option with its value "③ 12"
    if gold_choice is not None:
        picked = _choice(r)
        if picked is not None:
            return picked == gold_choice, "match_choice" if picked == gold_choice else "mismatch"
        option = re.fullmatch(r"\(?[①-⑤]\)?(.+)", g, re.S)
        if option and option.group(1).strip():
            g = option.group(1).strip()  # gold "③ 12" states option 3's value: "12" matches
    if re.fullmatch(r"\(?[A-E]\)?", g):
        # Lettered choices: gold "C" takes "(C)", "C", "(C) 12"; another letter is wrong.
        m = re.fullmatch(r"\(([A-E])\).*|([A-E])|([A-E])(?:[.:](?!\d)|\)).+", r, re.S)
        if m:
            picked = m.group(1) or m.group(2) or m.group(3)
            same = picked == g.strip("()")
            return same, "match_choice" if same else "mismatch"
    return _compare_normalized(r, g)


@_never_raises(False)
def check_answer(extracted: str | None, ground_truth) -> bool:
    r"""The complete decision for an extracted answer against the gold; never raises.

    check_answer(r"\dfrac{3}{2}", "1.5") -> True; check_answer("0.33", r"\frac13") -> False;
    check_answer("③", 3) -> True; check_answer(None, 3) -> False.
    """
    return _compare_with_gold(extracted, ground_truth)[0]


@dataclass(frozen=True)
class Verdict:
    is_correct: bool
    extracted_answer: str | None
    reason: str


_REJECTED = Verdict(False, None, "unparseable")  # what a step that raised amounts to


@_never_raises(_REJECTED)
def grade(response_text: str | None, ground_truth) -> Verdict:
    r"""Extract and check in one call; never raises. The last box is the answer; only when it is
    wrong and the gold lists k answers are the last k boxes tried together ("x=\boxed{2},
    y=\boxed{7}").

    grade(r"... \boxed{③}", 3) -> Verdict(is_correct=True, extracted_answer="③",
    reason="match_choice"); grade("the answer is 3", 3).reason -> "no_box".
    """
    return _grade(response_text, ground_truth)


def _grade(response_text: str | None, ground_truth) -> Verdict:
    extracted = _last_box(response_text)
    ok, reason = _compare_with_gold(extracted, ground_truth)
    if not ok and reason == "mismatch" and len(_BOX.findall(response_text or "")) > 1:
        # Answers split over boxes: "\boxed{(1,4)} and \boxed{(4,1)}" for a two-part gold.
        joined = _last_boxes_joined(response_text, _gold_parts(ground_truth))
        if joined is not None:
            joined_ok, joined_reason = _compare_with_gold(joined, ground_truth)
            if joined_ok:
                return Verdict(True, joined, joined_reason)
    return Verdict(ok, extracted, reason)


def _gold_parts(ground_truth) -> int:
    """How many answers a gold lists: "(1,4),(4,1)" -> 2, "x=2, y=7" -> 2, "(1, 2)" -> 2, "3" -> 1."""
    gold = _gold_text(ground_truth)
    if gold is None or len(gold) > MAX_ANSWER_CHARS:
        return 1
    kind = _structure(normalize_answer(gold))
    if kind[0] == "set":
        return len(kind[1])
    if kind[0] == "seq" and kind[1:3] == ("(", ")"):
        return len(kind[3])
    return 1


def validate_item(item: dict) -> dict:
    r"""Grade one sample record of any format (messages, sharegpt, alpaca, simple).

    {"solution": "<think>2?</think>\boxed{3}", "answer": 3} ->
    {"is_correct": True, "extracted_answer": "3", "ground_truth": 3, "reason": "match_exact"}
    """
    gold = item.get("answer") if isinstance(item, dict) else None
    verdict = _grade_record(item, gold)
    return {
        "is_correct": verdict.is_correct,
        "extracted_answer": verdict.extracted_answer,
        "ground_truth": gold,
        "reason": verdict.reason,
    }


@_never_raises(_REJECTED)
def _grade_record(item, ground_truth) -> Verdict:
    """grade() on the record's final text, reasoning removed; reading the record is inside the
    boundary too."""
    return _grade(final_text(item) if isinstance(item, dict) else None, ground_truth)


def validate_items(items) -> list[dict]:
    """validate_item over many records, in order. [{"solution": "\\boxed{1}", "answer": 1}] ->
    [{"is_correct": True, ...}]"""
    return [validate_item(item) for item in items]


# --- CLI -------------------------------------------------------------------------------------


# Here, not at the top: the grading library above needs nothing from the CLI's helpers.
from sftkit.common.flags import add_flags, flag, from_args  # noqa: E402


@dataclass(frozen=True)
class Config:
    """The CLI's settings: each field is its flag or argument (sftkit.common.flags)."""

    inputs: tuple[Path, ...] = flag(
        (), "jsonl files or folders", name="inputs", nargs="+", type=Path
    )
    output_dir: Path = flag(Path("validation_output"), None, type=Path)
    keep_incorrect: bool = flag(False, "also write incorrect/<file> records", action="store_true")

    def __post_init__(self) -> None:
        object.__setattr__(self, "inputs", tuple(self.inputs))  # frozen: set once, here


@dataclass
class FileStats:
    name: str
    total: int = 0
    correct: int = 0
    no_box: int = 0

    @property
    def accuracy(self) -> float:
        return self.correct / self.total if self.total else 0.0


def parse_args(argv=None) -> Config:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    add_flags(parser, Config)
    return from_args(Config, parser.parse_args(argv))


OUTPUT_MARKER = ".validate_sft_data"  # written into --output_dir so later runs skip it


def collect_files(inputs) -> list[tuple[Path, Path]]:
    """(file, path relative to its input) for every sample file; below a given folder, the
    pipeline's logs (`<type>_verdicts.jsonl`, `failures.jsonl`), *_validated/, merged/ and our own
    output folders are skipped. A file named on the command line is always graded.
    ["out/"] -> [(out/a/multiples/0_0.jsonl, out/a/multiples/0_0.jsonl)]"""
    # Here, not at the top: the grading library above needs nothing from the output layout.
    from sftkit.output import layout

    found = []
    for root in inputs:
        if root.is_dir():
            for path in sorted(root.rglob("*.jsonl")):
                rel = path.relative_to(root)
                skip = any(layout.is_output_dir(p) for p in rel.parts[:-1])
                dirs = [root.joinpath(*rel.parts[:i]) for i in range(len(rel.parts))]
                skip = skip or any((d / OUTPUT_MARKER).exists() for d in dirs[1:])
                skip = skip or layout.is_pipeline_log(path.name)
                if not skip and not path.name.startswith("."):
                    found.append((path, Path(root.name) / rel))
        else:
            found.append((root, Path(root.name)))
    return found


def grade_file(path: Path, rel: Path, config: Config, audit: list, errors: list) -> FileStats:
    from sftkit.output.layout import validated_record

    stats = FileStats(str(path))
    good, bad = [], []
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        errors.append(f"{path}:0: cannot read: {exc}")
        return stats
    for lineno, record in parse_lines(path, lines):
        if isinstance(record, str):
            errors.append(record)
            continue
        verdict = validate_item(record)
        stats.total += 1
        stats.correct += verdict["is_correct"]
        stats.no_box += verdict["reason"] == "no_box"
        audit.append({"file": str(path), "line": lineno, **verdict})
        (good if verdict["is_correct"] else bad).append(validated_record(record, verdict))
    if good:
        atomic_write_jsonl(config.output_dir / "validated" / rel, good)
    if bad and config.keep_incorrect:
        atomic_write_jsonl(config.output_dir / "incorrect" / rel, bad)
    return stats


def by_folder(rows: list[FileStats]) -> list[FileStats]:
    """One row per folder, in first-seen order: [out/a/0_0.jsonl, out/a/0_1.jsonl] -> [out/a]."""
    folders: dict[str, FileStats] = {}
    for row in rows:
        name = str(Path(row.name).parent)
        total = folders.setdefault(name, FileStats(name))
        total.total += row.total
        total.correct += row.correct
        total.no_box += row.no_box
    return list(folders.values())


def format_table(rows: list[FileStats]) -> str:
    """One line per folder and a total, as sftkit.output.report.text_table draws every table."""
    from sftkit.output.report import text_table  # here: the grading library needs no report

    total = FileStats("TOTAL")
    for row in rows:
        total.total += row.total
        total.correct += row.correct
        total.no_box += row.no_box
    head = ("folder", "total", "correct", "no box", "accuracy")
    body = [(r.name, r.total, r.correct, r.no_box, f"{r.accuracy:.1%}") for r in [*rows, total]]
    return "\n".join(text_table(head, body[:-1], body[-1], names=1, min_widths=(6, 7, 7, 7, 8)))


def main(argv=None) -> int:
    config = parse_args(argv)
    errors: list[str] = []
    audit: list[dict] = []
    rows = []
    for root in config.inputs:
        if not root.exists():
            errors.append(f"{root}:0: no such file or folder")
    files = collect_files([p for p in config.inputs if p.exists()])
    for path, rel in files:
        rows.append(grade_file(path, rel, config, audit, errors))
    config.output_dir.mkdir(parents=True, exist_ok=True)
    (config.output_dir / OUTPUT_MARKER).touch()
    atomic_write_jsonl(config.output_dir / "audit.jsonl", audit)
    print(format_table(by_folder(rows)))
    print(f"audit: {config.output_dir / 'audit.jsonl'}")
    for message in errors:
        print(message, file=sys.stderr)
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
