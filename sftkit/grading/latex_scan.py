r"""Linear scanners over answer text, and the one nesting limit every grading step shares.

Extraction and normalisation (validate_sft_data) find the brace that closes a \boxed{ or a
\text{ with closing_brace; the nesting gate before any recursive parsing and the SymPy step's own
caps (sftkit.grading.symbolic) measure brackets with bracket_nesting against MAX_NESTING. Both
scan once, left to right, without recursion, so any input length is safe.

Usage:
    closing_brace(r"\boxed{\frac{1}{2}} so", 6)   # -> 18
    bracket_nesting("f(x[1])")                    # -> (2, True)
"""

from __future__ import annotations

# Deeper bracket nesting is refused ("unparseable") before any recursive parsing. SymPy's LaTeX
# parser is the tightest consumer: its time grows steeply with depth (20 nested \frac take tens of
# seconds), and no real answer nests more than a few levels.
MAX_NESTING = 12


def closing_brace(text: str, start: int) -> int:
    r"""Index of the brace closing text[start] == "{", skipping \{ and \}; -1 if unclosed.

    closing_brace(r"\frac{a}{b}", 5) -> 7
    """
    depth = 0
    i, n = start, len(text)
    while i < n:
        ch = text[i]
        if ch == "\\":
            i += 2
            continue
        if ch == "{":
            depth += 1
        elif ch == "}":
            depth -= 1
            if depth == 0:
                return i
        i += 1
    return -1


def bracket_nesting(text: str) -> tuple[int, bool]:
    """(deepest bracket nesting, balanced?): "f(x[1])" -> (2, True), ")(" -> (0, False)."""
    depth = peak = 0
    balanced = True
    for ch in text:
        if ch in "({[":
            depth += 1
            peak = max(peak, depth)
        elif ch in ")}]":
            depth -= 1
            balanced = balanced and depth >= 0
    return peak, balanced and depth == 0
