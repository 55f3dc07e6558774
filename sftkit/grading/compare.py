r"""Comparison: an extracted answer against the gold, layered so typical answers never reach SymPy.

Normalised string match -> exact rational/surd arithmetic (sftkit.grading.numeric) -> SymPy behind
size caps and a hard time limit (sftkit.grading.symbolic). When in doubt, reject.
check_answer(r"\dfrac{3}{2}", "1.5") -> True; check_answer("③", 3) -> True.
"""

from __future__ import annotations

import re

from sftkit.grading.boundary import _never_raises
from sftkit.grading.extract import MAX_ANSWER_CHARS, _last_box
from sftkit.grading.latex_scan import MAX_NESTING, bracket_nesting
from sftkit.grading.named_values import as_set, values_only
from sftkit.grading.normalize import _LEADING_LABEL, normalize_answer
from sftkit.grading.numeric import decimal_digits, decimal_matches, parse_exact, terminates
from sftkit.grading.structure import (
    _IN,
    _SET_BUILDER,
    _SIMPLE_LHS,
    _assigned,
    _choice,
    _drop_lhs,
    _gold_text,
    _interval_like,
    _relation_interval,
    _split_top,
    _structure,
    _vector,
)
from sftkit.grading.symbolic import run_symbolic

# --- decision --------------------------------------------------------------------------------

# How indirect a match's evidence is: a list matches with the reason of its weakest item.
_WEAKNESS = {"match_exact": 0, "match_numeric": 1, "match_choice": 1, "match_symbolic": 2}
_NON_LATEX = re.compile(r"[^\x00-\x7f]")


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
        # Lettered choices: gold "C" takes "(C)", "C", "(C) 12", "option C"; another letter is
        # wrong.
        r = _OPTION_WORD.sub("", r, count=1)
        # "B. 180" as written (normalising drops the space that tells it from "B.5").
        spaced = re.match(r"\s*([A-E])[.:]\s", _OPTION_WORD.sub("", extracted.strip(), count=1))
        m = re.fullmatch(r"\(([A-E])\).*|([A-E])\)?|([A-E])(?:[.:](?!\d)|\)).+", r, re.S)
        if m or spaced:
            picked = spaced.group(1) if spaced else m.group(1) or m.group(2) or m.group(3)
            same = picked == g.strip("()")
            return same, "match_choice" if same else "mismatch"
    r, g = as_set(r), as_set(g)  # "x \in A or x \in B", "\{x | x \in A \cup B\}"
    pairs = values_only(r, g)  # gold "AB=4, CD=5", response "4, 5"
    if pairs:
        found = [_compare_normalized(a, b) for a, b in pairs]
        if all(ok for ok, _ in found):
            return True, _weakest_match([why for _, why in found])
    return _compare_normalized(r, g)


# "option C", "Option (C)", "choice: C", "answer C": the word before a lettered choice.
_OPTION_WORD = re.compile(r"^(?:option|choice|answer)\s*:?\s*(?=\(?[A-E]\b)", re.I)


@_never_raises(False)
def check_answer(extracted: str | None, ground_truth) -> bool:
    r"""The complete decision for an extracted answer against the gold; never raises.

    check_answer(r"\dfrac{3}{2}", "1.5") -> True; check_answer("0.33", r"\frac13") -> False;
    check_answer("③", 3) -> True; check_answer(None, 3) -> False.
    """
    return _compare_with_gold(extracted, ground_truth)[0]
