r"""Normalisation: one canonical spelling of an answer, meaning unchanged.

normalize_latex(r"$\dfrac{3}{2}$") -> r"\frac{3}{2}"; normalize_answer(r"\text{답: } 15\text{개}") -> "15"
(labels, Korean words and units around the value go).
"""

from __future__ import annotations

import re

from sftkit.grading.extract import _strip_wrappers
from sftkit.grading.latex_scan import closing_brace

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
