r"""The last, expensive grading step: SymPy equivalence behind size caps and a hard time limit.

Model text is data: it is parsed only by latex2sympy2_extended (never sympify/eval), only after
`too_complex()` has refused inputs whose parse alone could exhaust CPU or memory inside C code
(exponent towers, huge factorials, deep nesting), and every call is bounded by a time limit:
SIGALRM on the main thread, a killable pebble worker process anywhere else.

Usage:
    run_symbolic(r"\frac{\pi}{2}", r"\frac{2\pi}{4}")   # -> (True, None)
    run_symbolic("9^{9^{9^{9}}}", "1")                  # -> (False, "unparseable"), instantly
"""

from __future__ import annotations

import atexit
import concurrent.futures
import functools
import os
import re
import signal
import threading
import time
from contextlib import contextmanager

from sftkit.grading.latex_scan import MAX_NESTING, bracket_nesting, closing_brace
from sftkit.grading.numeric import MIN_SIG_DIGITS, decimal_digits, decimal_matches

SYMBOLIC_TIMEOUT = 3.0  # seconds per symbolic check, parse + compare
MAX_LENGTH = 400
MAX_CARETS = 12

_DECIMAL = re.compile(r"(?<![\d.])(\d*)\.(\d+)")
_cache: dict[tuple[str, str], tuple[bool, str | None]] = {}
_pool = None
_pool_pid = 0
_pool_lock = threading.Lock()


class SymbolicTimeout(Exception):
    pass


# --- caps: refuse before parsing -------------------------------------------------------------


def _exponent_at(text: str, i: int) -> str:
    """The exponent written after the caret at text[i]: a braced group or one token."""
    j = i + 1
    while j < len(text) and text[j] == " ":
        j += 1
    if j < len(text) and text[j] == "{":
        end = closing_brace(text, j)
        return text[j + 1 : end] if end != -1 else text[j + 1 :]
    m = re.match(r"\\[a-zA-Z]+|\d+|.", text[j:])
    return m.group(0) if m else ""


def too_complex(text: str) -> str | None:
    """Why `text` must not reach SymPy, or None. "9^{9^{9}}" -> "exponent tower"."""
    if len(text) > MAX_LENGTH:
        return "too long"
    peak, balanced = bracket_nesting(text)
    if not balanced:
        return "unbalanced"
    if peak > MAX_NESTING:
        return "too deeply nested"
    carets = [i for i, ch in enumerate(text) if ch == "^"]
    if len(carets) > MAX_CARETS:
        return "too many powers"
    # Powers of bracketed groups multiply: (2^{999})^{999} would be 2^998001. Powers side by side
    # in a sum (x^9 + x^8 + ...) do not, so only the largest of those counts.
    nested, plain = 1, 1
    for i in carets:
        exponent = _exponent_at(text, i)
        if "^" in exponent or "\\exp" in exponent or "!" in exponent:
            return "exponent tower"
        runs = re.findall(r"\d+", exponent)
        if any(len(run) > 3 for run in runs):
            return "exponent too large"
        value = 1
        for run in runs:
            value *= max(int(run), 1)
        if text[:i].rstrip().endswith((")", "}", "]")):
            nested *= value
        else:
            plain = max(plain, value)
        if nested * plain > 10_000:
            return "powers of powers too large"
    for m in re.finditer(r"!", text):
        before = text[: m.start()].rstrip()
        run = re.search(r"(\d+)$", before)
        if not run or len(run.group(1)) > 3:
            return "factorial of a large or non-literal number"
    if any(len(run) > 100 for run in re.findall(r"\d+", text)):
        return "number too long"
    if re.search(r"\\(binom|choose|Gamma|prod|sum|int|lim|operatorname)", text) and re.search(
        r"\d{4,}", text
    ):
        return "large argument to an expensive function"
    return None


# --- the SymPy step ----------------------------------------------------------------------------


def _sll_converter_class():
    """latex2sympy's converter with ANTLR's fast SLL prediction. ANTLR guarantees that an SLL
    parse either fails or gives the tree full LL gives, so _parse retries a failure with LL.
    A converter keeps state between parses (variable assignments): one per parse."""
    from antlr4.atn.PredictionMode import PredictionMode
    from latex2sympy2_extended.latex2sympy2 import _Latex2Sympy

    class SLL(_Latex2Sympy):
        def create_parser(self, latex_str):
            parser = super().create_parser(latex_str)
            parser._interp.predictionMode = PredictionMode.SLL
            return parser

    return SLL


_SLL = None
_ParseError = ValueError  # a cached parse failure, raised again for the same text

# SLL prediction gives up on a power of a bare letter ("x^2-6x-16": it wants x^2_1), and full LL
# takes 3-50 ms on such text: the symbolic tail. The same power of a bracketed letter, "(x)^2",
# parses the same under SLL in a fraction of a millisecond. The rewrite is applied only where it
# cannot change the reading: no subscript, no command but those below (`\ln x^2` is not
# `\ln (x)^2`), no e or i (constants), and a letter not written right after another letter or a
# bracket (`f x^2`, `xy^2` and `)x^2` could read as function calls).
_PLAIN_COMMANDS = {
    "frac", "dfrac", "tfrac", "left", "right", "cdot", "times", "sqrt", "le", "ge", "leq", "geq",
    "lt", "gt", "ne", "neq", "begin", "end",
}  # fmt: skip
_COMMAND = re.compile(r"\\([a-zA-Z]+)")
_BARE_POWER = re.compile(r"(?<![a-zA-Z\\)\]}\s])(\s*)([a-df-hj-zA-DF-HJ-Z])(?=\s*\^)")


def sll_friendly(text: str) -> str | None:
    r"""`text` with each power of a bare letter bracketed, when that cannot change its reading;
    None when there is nothing to rewrite or the text is outside the safe subset.

    "x^2-6x-16" -> "(x)^2-6x-16";  r"\frac{x^2-1}{x-1}" -> r"\frac{(x)^2-1}{x-1}";
    r"\ln x^2" -> None;  "e^{x}" -> None
    """
    if "^" not in text or "_" in text:
        return None
    if any(m[1] not in _PLAIN_COMMANDS for m in _COMMAND.finditer(text)):
        return None
    if re.search(r"(?<!\\)[eEiI](?![a-zA-Z])", re.sub(r"\\[a-zA-Z]+", "", text)):
        return None
    rewritten = _BARE_POWER.sub(lambda m: f"{m[1]}({m[2]})", text)
    return rewritten if rewritten != text else None


@functools.lru_cache(maxsize=4096)
def _parse(exact: str):
    """(expr, None) or (None, why). Golds repeat across a problem's samples, and answers repeat
    across problems: each distinct text is parsed once (SymPy expressions are immutable)."""
    global _SLL
    from latex2sympy2_extended import latex2sympy

    if _SLL is None:
        _SLL = _sll_converter_class()
    try:
        try:
            return _SLL().parse(sll_friendly(exact) or exact), None
        except SymbolicTimeout:
            raise
        except Exception:  # SLL gave up (it does on some inputs LL parses): full LL decides
            return latex2sympy(exact, normalization_config=None), None
    except SymbolicTimeout:
        raise  # out of time is not a property of the text: never cached
    except Exception as exc:  # noqa: BLE001 - any parser failure means "unparseable"
        return None, f"{type(exc).__name__}: {exc}"[:200]


def _to_sympy(text: str):
    # Decimals inside expressions become exact fractions so 0.5\pi equals \frac{\pi}{2}.
    exact = _DECIMAL.sub(lambda m: f"\\frac{{{m[1]}{m[2]}}}{{1{'0' * len(m[2])}}}", text)
    expr, why = _parse(exact)
    if why is not None:
        raise _ParseError(why)
    return expr


def symbolic_equal(a: str, b: str) -> bool:
    r"""SymPy equivalence of two normalised LaTeX strings; raises on unparseable input.

    ("\log_{2} 8", "3") -> True. Callers go through run_symbolic() for the caps and time limit.
    """
    import sympy

    ea, eb = _to_sympy(a), _to_sympy(b)
    if isinstance(ea, sympy.Equality) and isinstance(eb, sympy.Equality):
        # Same equation up to a nonzero factor: 2x+2=0 and -x-1=0.
        da, db = ea.lhs - ea.rhs, eb.lhs - eb.rhs
        if db == 0:
            return da == 0
        ratio = _constant_ratio(da, db)
        return bool(ratio is not None and ratio != 0 and ratio.is_finite)
    if isinstance(ea, sympy.Rel) and isinstance(eb, sympy.Rel):
        return _same_relation(ea, eb)
    if not isinstance(ea, sympy.Expr) or not isinstance(eb, sympy.Expr):
        return bool(ea == eb)
    if ea.free_symbols or eb.free_symbols:
        # \sin^2 x + \cos^2 x against 1 too: the symbol cancels, or the two differ
        return _identically_zero(ea - eb)
    for text, other in ((a, eb), (b, ea)):
        if decimal_digits(text) is not None:
            exact = sympy.Rational(text.strip())
            if abs(sympy.N(other - exact, 60)) <= sympy.Float(10) ** -40:
                return True  # cos(pi/3) = 0.5 exactly
            return _decimal_matches_expr(text, other)
    if ea == eb:
        return True
    va, vb = sympy.N(ea, 60), sympy.N(eb, 60)
    if not (va.is_number and vb.is_number) or va.has(sympy.nan, sympy.zoo):
        return False
    if not (va.is_finite and vb.is_finite):
        return bool(va == vb)  # oo - (-oo) is oo, which no tolerance scaled by oo may absorb
    scale = max(1, abs(va), abs(vb))
    return bool(abs(va - vb) <= sympy.Float(10) ** -40 * scale)


def _same_relation(ea, eb) -> bool:
    """x < 1 and -x > -1 state the same thing: both read "e > 0" (or >= / !=) with e1/e2 a
    positive constant (any nonzero constant for !=)."""
    import sympy

    def positive_form(rel):
        if isinstance(rel, sympy.StrictLessThan | sympy.LessThan):
            return rel.rhs - rel.lhs, isinstance(rel, sympy.StrictLessThan), "order"
        if isinstance(rel, sympy.StrictGreaterThan | sympy.GreaterThan):
            return rel.lhs - rel.rhs, isinstance(rel, sympy.StrictGreaterThan), "order"
        if isinstance(rel, sympy.Unequality):
            return rel.lhs - rel.rhs, True, "ne"
        return None

    fa, fb = positive_form(ea), positive_form(eb)
    if fa is None or fb is None or fa[1:] != fb[1:] or fb[0] == 0:
        return False
    ratio = _constant_ratio(fa[0], fb[0])
    if ratio is None or not (ratio.is_finite and ratio != 0):
        return False
    return bool(ratio > 0) if fa[2] == "order" else True


# Points where free symbols are tried: positive (no branch cuts of roots and logs), not integers
# (where denominators like x-3 vanish), and unlike one another.
_PROBES = ((13, 7), (29, 11), (47, 17))


def _probe_values(expr, point: int):
    """expr at the point-th probe (every symbol its own value), 30 digits; None if not a finite
    number there (a pole, an undefined function, a matrix)."""
    import sympy

    symbols = sorted(expr.free_symbols, key=str)
    subs = {
        sym: sympy.Rational(_PROBES[point][0] + 3 * i, _PROBES[point][1])
        for i, sym in enumerate(symbols)
    }
    try:
        value = sympy.N(expr.xreplace(subs), 30)
        if not value.is_number or value.has(sympy.nan, sympy.zoo, sympy.oo, -sympy.oo):
            return None
    except SymbolicTimeout:
        raise
    except Exception:  # noqa: BLE001 - an expression that cannot be evaluated decides nothing
        return None
    return value


def _differs_somewhere(diff) -> bool:
    """True when diff is clearly nonzero at a probe: then no rewriting can make it 0, and the
    expensive proof is skipped. Never used to accept."""
    for point in range(len(_PROBES)):
        value = _probe_values(diff, point)
        if value is not None and abs(value) > 1e-9:
            return True
    return False


def _identically_zero(diff) -> bool:
    """Cheapest proof first: a nonzero value at a probe refutes; expand and cancel (polynomials,
    rational functions) prove; simplify only for what is left."""
    import sympy

    if _differs_somewhere(diff):
        return False
    if sympy.expand(diff) == 0 or sympy.cancel(diff) == 0:
        return True
    return sympy.simplify(diff) == 0


def _constant_ratio(a, b):
    """a / b when it is a constant (proved, not sampled), else None. (2x+2, -x-1) -> -2."""
    import sympy

    values = [_probe_values(a / b, point) for point in range(2)]
    if None not in values and abs(values[0] - values[1]) > 1e-12 * max(1, abs(values[0])):
        return None  # not constant: two probes disagree
    for rewrite in (sympy.cancel, sympy.simplify):
        ratio = rewrite(a / b)
        if ratio.is_number:
            return ratio
    return None


def _decimal_matches_expr(text: str, expr) -> bool:
    import decimal

    import sympy

    value = sympy.N(expr, 60)
    if not value.is_real:
        return False
    info = decimal_digits(text)
    if info is None or info[0] < MIN_SIG_DIGITS:
        return False
    return decimal_matches(text, decimal.Decimal(str(value)))


# --- time limit --------------------------------------------------------------------------------


@contextmanager
def _alarm(seconds: float):
    def on_alarm(signum, frame):
        raise SymbolicTimeout()

    previous = signal.signal(signal.SIGALRM, on_alarm)
    outer_delay, outer_interval = signal.setitimer(signal.ITIMER_REAL, seconds)
    started = time.monotonic()
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
        if outer_delay > 0:
            # Someone else's timer (e.g. pytest-timeout) was running: give it back its remainder.
            remaining = max(outer_delay - (time.monotonic() - started), 0.001)
            signal.setitimer(signal.ITIMER_REAL, remaining, outer_interval)


_warm = False
# One of each construct answers use: ANTLR builds its prediction tables per construct on first
# sight (tens of ms each), which would otherwise land inside the first answers' time limits.
_WARM_UP_FORMS = (
    "1+1",
    r"x^2+2x+1",
    r"(x+1)(x-1)",
    r"\frac{x^2-1}{x-1}",
    r"\sin(\frac{\pi}{6})+\cos^2x",
    r"\log_{2}8+\ln2+\log100",
    r"\sqrt{2}+\sqrt[3]{2}",
    r"2x+3y=5",
    r"-x>-1",
    r"\{1,x+1\}",
    r"\begin{pmatrix}1&x\\0&1\end{pmatrix}",
)


def warm_up() -> None:
    """Import SymPy and build the LaTeX parser now: about a second, paid once per process (also
    when it fails: a broken install must not retry on every answer), outside any time limit. Call
    it before forking workers so none pays it on its first symbolic answer; the checker's own
    worker forks from a warm parent, so a replaced one does not pay again. warm_up(); grade(...)"""
    global _warm
    if _warm:
        return
    _warm = True
    for form in _WARM_UP_FORMS:
        try:
            _to_sympy(form)
        except Exception:  # noqa: BLE001 - warming is best effort; the real call reports
            pass


def _in_worker(a: str, b: str) -> bool:
    return symbolic_equal(a, b)


def _get_pool():
    global _pool, _pool_pid
    with _pool_lock:
        if _pool is not None and _pool_pid != os.getpid():
            _pool = None  # inherited through fork: its manager threads do not exist here
        if _pool is None:
            import pebble

            warm_up()  # in the parent, so every (re)started worker is forked warm
            _pool = pebble.ProcessPool(max_workers=1, initializer=warm_up)
            _pool_pid = os.getpid()
            atexit.register(shutdown_pool)
        return _pool


def shutdown_pool() -> None:
    """Stop the worker process (tests, CLI exit); the next off-main-thread call starts a new one."""
    global _pool
    with _pool_lock:
        if _pool is not None and _pool_pid == os.getpid():
            _pool.stop()
            _pool.join(timeout=5)
            _pool = None


def clear_cache() -> None:
    """Forget verdicts and parses (tests that patch the SymPy step)."""
    _cache.clear()
    _parse.cache_clear()


def _on_main_thread() -> bool:
    return threading.current_thread() is threading.main_thread() and hasattr(signal, "SIGALRM")


def _off_main_thread(a: str, b: str, timeout: float) -> bool:
    try:
        pool = _get_pool()
    except Exception:
        pool = None  # e.g. inside a daemonic worker, which may not start children
    if pool is not None:
        return pool.schedule(_in_worker, args=(a, b), timeout=timeout).result()
    # Last resort: a daemon thread we stop waiting for. It cannot be killed, but the caller
    # gets its verdict on time and the thread dies with the process.
    box: list = []

    def target():
        try:
            box.append(("ok", symbolic_equal(a, b)))
        except Exception as exc:  # noqa: BLE001 - reported as unparseable by the caller
            box.append(("error", exc))

    worker = threading.Thread(target=target, daemon=True)
    worker.start()
    worker.join(timeout)
    if not box:
        raise SymbolicTimeout()
    kind, value = box[0]
    if kind == "error":
        raise value
    return value


def run_symbolic(a: str, b: str, timeout: float | None = None) -> tuple[bool, str | None]:
    """(equal, failure) where failure is None, "timeout" or "unparseable". Never raises."""
    timeout = SYMBOLIC_TIMEOUT if timeout is None else timeout
    if too_complex(a) or too_complex(b):
        return False, "unparseable"
    key = (a, b)
    if key in _cache:
        return _cache[key]
    try:
        if _on_main_thread():
            warm_up()
            with _alarm(timeout):
                equal = symbolic_equal(a, b)
        else:
            equal = _off_main_thread(a, b, timeout)
    except (SymbolicTimeout, concurrent.futures.TimeoutError, TimeoutError):
        return False, "timeout"  # not cached: a busy machine may succeed next time
    except Exception:
        result = (False, "unparseable")
    else:
        result = (bool(equal), None)
    if len(_cache) > 50_000:
        _cache.clear()
    _cache[key] = result
    return result
