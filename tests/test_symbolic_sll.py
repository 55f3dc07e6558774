r"""The SLL-friendly rewrite (issue 23, the grading tail): a power of a bare letter is bracketed
so the fast SLL parser takes it, only where that cannot change the reading, and the expression
parsed is the one full LL parses from the text as written."""

from __future__ import annotations

import pytest
import sympy
from latex2sympy2_extended import latex2sympy

from sftkit.grading.symbolic import _parse, sll_friendly


@pytest.mark.parametrize(
    "text, rewritten",
    [
        ("x^2-6x-16", "(x)^2-6x-16"),
        (r"\frac{x^2-1}{x-1}", r"\frac{(x)^2-1}{x-1}"),
        ("a^{3}+b^{3}", "(a)^{3}+(b)^{3}"),
        (r"\ln x^2", None),  # \ln (x)^2 could read differently: left alone
        ("e^{x}", None),  # a constant, not a letter
        ("x_1^2", None),  # subscripts left alone
        ("xy^2", None),  # a letter after a letter: could be a product or a name
        ("(x+1)^2", None),  # nothing bare to bracket
        ("2x+1", None),  # no power at all
    ],
)
def test_sll_friendly(text, rewritten):
    assert sll_friendly(text) == rewritten


@pytest.mark.parametrize(
    "text",
    ["x^2-6x-16", r"\frac{x^2-1}{x-1}", "a^{3}+b^{3}-3a^2b", r"\sqrt{x^2+1}", "2x^3 \\cdot x^2"],
)
def test_rewrite_parses_to_what_ll_parses(text):
    fast, why = _parse(text)  # SLL on the rewrite, or LL where SLL still gives up
    assert why is None
    slow = latex2sympy(text, normalization_config=None)
    assert sympy.simplify(fast - slow) == 0
