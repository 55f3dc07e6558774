r"""Exact arithmetic for simple numeric answers: no SymPy, no eval, bounded work.

Values are Q-linear combinations of square roots of square-free integers ("surds"), kept in a
canonical form, so two parsed values are equal exactly when their forms are equal (square roots
of distinct square-free integers are linearly independent over Q).

Usage:
    parse_exact(r"\frac{2}{\sqrt{5}}") == parse_exact(r"\frac{2\sqrt{5}}{5}")   # True
    parse_exact(r"\pi") is None          # not a simple numeric form: the symbolic step decides
    decimal_matches("1.41421", parse_exact(r"\sqrt{2}"))   # True: 6 significant digits agree
"""

from __future__ import annotations

import decimal
import math
import re
from fractions import Fraction

MAX_EXPONENT = 4096  # |n| in a^n; larger exponents are not "simple numeric forms"
MAX_BITS = 200_000  # size cap for any intermediate numerator/denominator
MAX_RADICAND = 10**12  # square-part extraction is trial division up to the cube root
MAX_TERMS = 16
MIN_SIG_DIGITS = 6  # a decimal must print at least this many digits to match an irrational

_TOKEN = re.compile(r"\s*(?:(\d+(?:\.\d*)?|\.\d+)|(\\[a-zA-Z]+)|(\S))")
_BARE_DECIMAL = re.compile(r"^[+-]?(\d*)\.(\d+)$|^[+-]?(\d+)\.$")


class _Fail(Exception):
    pass


# pi to 70 digits: decimal comparisons need more precision than any printed answer has.
_PI = decimal.Decimal("3.141592653589793238462643383279502884197169399375105820974944592307816")
MAX_PI_POWER = 4


class Surd:
    r"""sum(coef * sqrt(radicand) * pi^k); radicands square-free, coefficients nonzero Fractions.

    pi is transcendental, so this form is still canonical: 2\pi/6 and \pi/3 get equal terms.
    """

    __slots__ = ("terms",)

    def __init__(self, terms: dict[tuple[int, int], Fraction]):
        if len(terms) > MAX_TERMS:
            raise _Fail("too many terms")
        for (_, k), c in terms.items():
            if abs(k) > MAX_PI_POWER:
                raise _Fail("pi power too large")
            if c.numerator.bit_length() > MAX_BITS or c.denominator.bit_length() > MAX_BITS:
                raise _Fail("number too large")
        self.terms = {key: c for key, c in terms.items() if c}

    @classmethod
    def rational(cls, q: Fraction | int) -> Surd:
        return cls({(1, 0): Fraction(q)})

    @classmethod
    def pi(cls) -> Surd:
        return cls({(1, 1): Fraction(1)})

    def is_rational(self) -> bool:
        return all(key == (1, 0) for key in self.terms)

    def has_pi(self) -> bool:
        return any(k for _, k in self.terms)

    def as_fraction(self) -> Fraction:
        return self.terms.get((1, 0), Fraction(0))

    def __eq__(self, other) -> bool:
        return isinstance(other, Surd) and self.terms == other.terms

    def __hash__(self) -> int:
        return hash(frozenset(self.terms.items()))

    def __repr__(self) -> str:
        parts = [f"{c}*sqrt({r})*pi^{k}" for (r, k), c in sorted(self.terms.items())]
        return " + ".join(parts) or "0"

    def __add__(self, other: Surd) -> Surd:
        out = dict(self.terms)
        for key, c in other.terms.items():
            out[key] = out.get(key, Fraction(0)) + c
        return Surd(out)

    def __neg__(self) -> Surd:
        return Surd({key: -c for key, c in self.terms.items()})

    def __sub__(self, other: Surd) -> Surd:
        return self + (-other)

    def __mul__(self, other: Surd) -> Surd:
        out: dict[tuple[int, int], Fraction] = {}
        for (r1, k1), c1 in self.terms.items():
            for (r2, k2), c2 in other.terms.items():
                square, free = _split_square(r1 * r2)
                key = (free, k1 + k2)
                out[key] = out.get(key, Fraction(0)) + c1 * c2 * square
        return Surd(out)

    def inverse(self) -> Surd:
        if not self.terms:
            raise _Fail("division by zero")
        if len(self.terms) == 1:
            (((r, k), c),) = self.terms.items()
            return Surd({(r, -k): 1 / (c * r)})
        if self.has_pi():
            raise _Fail("pi in a sum in a denominator")
        # Rationalise: multiply by the conjugate in one prime at a time.
        num, den = Surd.rational(1), self
        for _ in range(6):
            if den.is_rational():
                return num * Surd.rational(1 / den.as_fraction())
            prime = _smallest_prime(max(r for r, _ in den.terms if r != 1))
            with_p = Surd({(r // prime, 0): c for (r, _), c in den.terms.items() if r % prime == 0})
            without_p = Surd({(r, 0): c for (r, _), c in den.terms.items() if r % prime})
            conj = without_p - with_p * Surd({(prime, 0): Fraction(1)})
            num, den = num * conj, den * conj
        raise _Fail("cannot rationalise")

    def to_latex(self) -> str:
        r"""A form parse_exact reads back to an equal value: 3/2*sqrt(5) -> "\frac{3}{2}\sqrt{5}"."""
        parts = []
        for (r, k), c in sorted(self.terms.items()):
            num, den = abs(c.numerator), c.denominator
            coef = str(num) if den == 1 else rf"\frac{{{num}}}{{{den}}}"
            body = (rf"\sqrt{{{r}}}" if r != 1 else "") + (rf"\pi^{{{k}}}" if k else "")
            if body and num == 1 and den == 1:
                coef = ""
            parts.append(("-" if c < 0 else "+") + coef + body)
        return "".join(parts).lstrip("+") or "0"

    def to_decimal(self, digits: int = 60) -> decimal.Decimal:
        with decimal.localcontext() as ctx:
            ctx.prec = digits
            total = decimal.Decimal(0)
            for (r, k), c in self.terms.items():
                total += (
                    decimal.Decimal(c.numerator)
                    / decimal.Decimal(c.denominator)
                    * decimal.Decimal(r).sqrt()
                    * _PI**k
                )
            return total


def _smallest_prime(n: int) -> int:
    i = 2
    while i * i <= n:
        if n % i == 0:
            return i
        i += 1
    return n


def _split_square(n: int) -> tuple[int, int]:
    """n = s^2 * f with f square-free -> (s, f). 72 -> (6, 2)."""
    if n > MAX_RADICAND:
        raise _Fail("radicand too large")
    square, free = 1, 1
    i = 2
    # Trial division up to the cube root leaves at most two (large) prime factors.
    while i * i * i <= n:
        while n % (i * i) == 0:
            n //= i * i
            square *= i
        if n % i == 0:
            n //= i
            free *= i
        i += 1
    root = math.isqrt(n)
    if root * root == n:
        square *= root
    else:
        free *= n
    return square, free


def _sqrt(v: Surd) -> Surd:
    if not v.is_rational():
        raise _Fail("nested radical")
    q = v.as_fraction()
    if q < 0:
        raise _Fail("imaginary")
    square, free = _split_square(q.numerator * q.denominator)
    return Surd({(free, 0): Fraction(square, q.denominator)})


def _nth_root(v: Surd, n: int) -> Surd:
    if n == 2:
        return _sqrt(v)
    if not v.is_rational() or not 2 <= n <= 12:
        raise _Fail("unsupported root")
    q = v.as_fraction()
    sign = -1 if q < 0 else 1
    if sign < 0 and n % 2 == 0:
        raise _Fail("imaginary")
    num, den = _int_root(abs(q.numerator), n), _int_root(q.denominator, n)
    if num is None or den is None:
        raise _Fail("irrational root")  # e.g. cube root of 2: the symbolic step decides
    return Surd.rational(sign * Fraction(num, den))


def _int_root(n: int, k: int) -> int | None:
    if n.bit_length() > 4096:
        raise _Fail("number too large")
    guess = (
        round(n ** (1 / k)) if n < 2**1000 else int(decimal.Decimal(n) ** (decimal.Decimal(1) / k))
    )
    for cand in (guess - 1, guess, guess + 1):
        if cand >= 0 and cand**k == n:
            return cand
    return None


def _power(base: Surd, exp: Surd) -> Surd:
    if not exp.is_rational():
        raise _Fail("irrational exponent")
    e = exp.as_fraction()
    if e.denominator != 1:
        if e.denominator == 2 and abs(e.numerator) <= MAX_EXPONENT:
            return _power(_sqrt(base), Surd.rational(e.numerator))
        raise _Fail("fractional exponent")
    n = e.numerator
    if abs(n) > MAX_EXPONENT:
        raise _Fail("exponent too large")
    if base.is_rational():
        q = base.as_fraction()
        bits = max(q.numerator.bit_length(), q.denominator.bit_length())
        if bits * abs(n) > MAX_BITS:
            raise _Fail("power too large")
        if q == 0 and n < 0:
            raise _Fail("division by zero")
        return Surd.rational(q**n)
    if abs(n) > 64:
        raise _Fail("power too large")
    result = Surd.rational(1)
    for _ in range(abs(n)):
        result = result * base
    return result.inverse() if n < 0 else result


class _Parser:
    """Recursive descent over + - * / ^, \frac, \\sqrt, \\sqrt[n], parentheses, braces, %."""

    def __init__(self, text: str):
        self.tokens: list[tuple[str, str]] = []
        for m in _TOKEN.finditer(text):
            num, cmd, ch = m.groups()
            if num is not None:
                self.tokens.append(("num", num))
            elif cmd is not None:
                self.tokens.append(("cmd", cmd))
            elif ch is not None:
                self.tokens.append(("ch", ch))
        self.pos = 0

    def peek(self) -> tuple[str, str] | None:
        return self.tokens[self.pos] if self.pos < len(self.tokens) else None

    def take(self) -> tuple[str, str]:
        tok = self.peek()
        if tok is None:
            raise _Fail("unexpected end")
        self.pos += 1
        return tok

    def expect(self, value: str) -> None:
        if self.take()[1] != value:
            raise _Fail(f"expected {value}")

    def parse(self) -> Surd:
        value = self.expr()
        if self.peek() is not None:
            raise _Fail("trailing input")
        return value

    def expr(self) -> Surd:
        value = self.term()
        while (tok := self.peek()) and tok[1] in "+-" and tok[0] == "ch":
            self.take()
            value = value + self.term() if tok[1] == "+" else value - self.term()
        return value

    def term(self) -> Surd:
        value = self.unary()
        while tok := self.peek():
            if tok[1] in ("*", "\\times", "\\cdot"):
                self.take()
                value = value * self.unary()
            elif tok[1] in ("/", "\\div"):
                self.take()
                value = value * self.unary().inverse()
            elif tok[1] in ("(", "{", "\\frac", "\\sqrt", "\\pi"):
                # Implicit product: 2\sqrt{3}, 3(1+2). An integer right before a proper fraction
                # of integers is a mixed number in answers: 2\frac{1}{2} = 2.5.
                if tok[1] == "\\frac" and self.tokens[self.pos - 1][0] == "num":
                    value = self.mixed(value)
                    continue
                value = value * self.unary()
            else:
                break
        return value

    def mixed(self, whole: Surd) -> Surd:
        start = self.pos
        part = self.atom()
        kinds = [t[1] if t[0] == "ch" else t[0] for t in self.tokens[start + 1 : self.pos]]
        integer_args = kinds == ["{", "num", "}", "{", "num", "}"] or kinds == ["num", "num"]
        literal = self.tokens[start - 1][1]
        if not integer_args or "." in literal or not whole.is_rational():
            raise _Fail("not a mixed number")
        frac, w = part.as_fraction(), whole.as_fraction()
        if not 0 < frac < 1 or w.denominator != 1:
            raise _Fail("not a mixed number")
        return Surd.rational(w - frac if w < 0 else w + frac)

    def unary(self) -> Surd:
        tok = self.peek()
        if tok and tok[0] == "ch" and tok[1] in "+-":
            self.take()
            inner = self.unary()
            return -inner if tok[1] == "-" else inner
        return self.power()

    def power(self) -> Surd:
        base = self.atom()
        tok = self.peek()
        if tok and tok[1] == "^":
            self.take()
            nxt = self.peek()
            if nxt and nxt[0] == "ch" and nxt[1] in "+-":
                self.take()
                exp = self.group_or_digit()
                exp = -exp if nxt[1] == "-" else exp
            else:
                exp = self.group_or_digit()
            return _power(base, exp)
        return base

    def group_or_digit(self) -> Surd:
        """A macro argument: {expr} or a single digit (\frac12, 2^3)."""
        tok = self.take()
        if tok == ("ch", "{"):
            value = self.expr()
            self.expect("}")
            return value
        if tok[0] == "num":
            if len(tok[1]) > 1:
                # \frac12: the argument is the first digit, the rest stays in the stream.
                self.tokens.insert(self.pos, ("num", tok[1][1:]))
            if not tok[1][0].isdigit():
                raise _Fail("bad argument")
            return Surd.rational(int(tok[1][0]))
        raise _Fail("bad argument")

    def atom(self) -> Surd:
        tok = self.take()
        kind, val = tok
        if kind == "num":
            if self.peek() and self.peek()[0] == "num":
                raise _Fail("two numbers in a row")
            value = Surd.rational(Fraction(val))
        elif tok == ("ch", "("):
            value = self.expr()
            self.expect(")")
        elif tok == ("ch", "{"):
            value = self.expr()
            self.expect("}")
        elif val == "\\frac":
            num = self.group_or_digit()
            value = num * self.group_or_digit().inverse()
        elif val == "\\pi":
            value = Surd.pi()
        elif val == "\\sqrt":
            index = 2
            if self.peek() == ("ch", "["):
                self.take()
                idx = self.expr()
                self.expect("]")
                if not idx.is_rational() or idx.as_fraction().denominator != 1:
                    raise _Fail("bad root index")
                index = int(idx.as_fraction())
            value = _nth_root(self.group_or_digit(), index)
        else:
            raise _Fail(f"unsupported token {val}")
        if self.peek() == ("ch", "%"):
            self.take()
            value = value * Surd.rational(Fraction(1, 100))
        return value


def parse_exact(text: str) -> Surd | None:
    r"""Exact value of a simple numeric LaTeX form, or None. "\frac{3}{2}" -> 3/2*sqrt(1)."""
    if len(text) > 500:
        return None
    try:
        return _Parser(text).parse()
    except (
        _Fail,
        ValueError,
        ZeroDivisionError,
        OverflowError,
        RecursionError,
        decimal.InvalidOperation,
    ):
        return None


def decimal_digits(text: str) -> tuple[int, int] | None:
    """(significant digits, decimal places) of a bare decimal literal, else None. "0.0310" -> (3, 4)."""
    m = _BARE_DECIMAL.match(text.strip())
    if not m:
        return None
    if m.group(3) is not None:
        return len(m.group(3).lstrip("0")) or 1, 0
    whole, frac = m.group(1), m.group(2)
    digits = (whole + frac).lstrip("0")
    return len(digits), len(frac)


def terminates(value: Surd) -> bool:
    """A rational whose decimal expansion ends (denominator 2^a 5^b)."""
    if not value.is_rational():
        return False
    d = value.as_fraction().denominator
    for p in (2, 5):
        while d % p == 0:
            d //= p
    return d == 1


def decimal_matches(text: str, exact: decimal.Decimal | Surd) -> bool:
    """A printed decimal stands for an irrational/repeating value only if it shows at least
    MIN_SIG_DIGITS significant digits and all of them agree (rounded or cut off). Never rounds
    the printed decimal itself. "0.333333" vs 1/3 -> True; "0.33" vs 1/3 -> False."""
    info = decimal_digits(text)
    # 0.333333 and 1.41421 (6 significant digits) count; 0.33333 and 1.4142 (5) do not.
    if info is None or info[0] < MIN_SIG_DIGITS:
        return False
    places = info[1]
    value = exact.to_decimal() if isinstance(exact, Surd) else exact
    with decimal.localcontext() as ctx:
        ctx.prec = 80
        shown = decimal.Decimal(text.strip())
        quantum = decimal.Decimal(1).scaleb(-places)
        rounded = value.quantize(quantum, rounding=decimal.ROUND_HALF_UP)
        cut = value.quantize(quantum, rounding=decimal.ROUND_DOWN)
        return shown in (rounded, cut)


# --- matrix arithmetic -------------------------------------------------------------------------

_MATRIX_BLOCK = re.compile(r"\\begin\{([pbBvV]?matrix)\}(.*?)\\end\{\1\}", re.S)
_BETWEEN = re.compile(r"\s*([+-]|\\cdot|\\times)?\s*(.*?)\s*(?:\\cdot|\\times)?\s*")
MAX_MATRIX_SIDE = 8
MAX_BLOCKS = 6


def _matrix_entries(body: str) -> list[list[Surd]]:
    rows = [row for row in re.split(r"\\\\", body) if row.strip()]
    cells = [row.split("&") for row in rows]
    if not rows or len(rows) > MAX_MATRIX_SIDE or len({len(c) for c in cells}) != 1:
        raise _Fail("ragged or too large")
    if len(cells[0]) > MAX_MATRIX_SIDE:
        raise _Fail("too large")
    out = [[parse_exact(c) for c in row] for row in cells]
    if any(v is None for row in out for v in row):
        raise _Fail("entry is not a simple number")
    return out


def _matmul(a: list[list[Surd]], b: list[list[Surd]]) -> list[list[Surd]]:
    if len(a[0]) != len(b):
        raise _Fail("shapes")
    zero = Surd.rational(0)
    out = []
    for row in a:
        new = []
        for j in range(len(b[0])):
            total = zero
            for k, x in enumerate(row):
                total = total + x * b[k][j]
            new.append(total)
        out.append(new)
    return out


def _scale(c: Surd, m: list[list[Surd]]) -> list[list[Surd]]:
    return [[c * x for x in row] for row in m]


def _add(a: list[list[Surd]], b: list[list[Surd]]) -> list[list[Surd]]:
    if len(a) != len(b) or len(a[0]) != len(b[0]):
        raise _Fail("shapes")
    return [[x + y for x, y in zip(ra, rb, strict=True)] for ra, rb in zip(a, b, strict=True)]


def matrix_value(text: str) -> list[list[str]] | None:
    r"""Entries of a sum / product of number matrices, evaluated exactly, or None.

    "2\begin{pmatrix}1&0\\0&1\end{pmatrix}+\begin{pmatrix}1&1\\1&1\end{pmatrix}"
    -> [["3", "1"], ["1", "3"]]. Scalars may stand before a block ("-\frac12\begin{...}"); products
    bind before sums; anything else (symbols, nested matrices, a trailing term) -> None.
    """
    if len(text) > 2000:
        return None
    blocks = list(_MATRIX_BLOCK.finditer(text))
    if not blocks or len(blocks) > MAX_BLOCKS:
        return None
    try:
        terms: list[list[list[Surd]]] = []
        pos = 0
        for i, block in enumerate(blocks):
            m = _BETWEEN.fullmatch(text, pos, block.start())
            if m is None:
                return None
            op, coef = m.group(1), m.group(2)
            scale = parse_exact(coef) if coef else Surd.rational(1)
            if scale is None:
                return None
            value = _scale(scale, _matrix_entries(block.group(2)))
            if i == 0:
                if op in ("\\cdot", "\\times"):
                    return None
                terms.append(_scale(Surd.rational(-1), value) if op == "-" else value)
            elif op in ("+", "-"):
                terms.append(_scale(Surd.rational(-1), value) if op == "-" else value)
            else:
                terms[-1] = _matmul(terms[-1], value)
            pos = block.end()
        if text[pos:].strip():
            return None
        total = terms[0]
        for term in terms[1:]:
            total = _add(total, term)
    except (_Fail, ValueError, ZeroDivisionError, OverflowError):
        return None
    return [[x.to_latex() for x in row] for row in total]
