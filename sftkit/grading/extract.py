r"""Extraction: the final \boxed{} answer of a model's text, wrappers stripped.

extract_boxed_answer(r"so \boxed{\frac{\sqrt{3}}{2}}.") -> r"\frac{\sqrt{3}}{2}"; a box only inside
<think>...</think> or an unclosed last box -> None. First step of the grading pipeline:
extract -> normalize -> compare -> grade.
"""

from __future__ import annotations

import re

from sftkit.grading.boundary import _never_raises
from sftkit.grading.latex_scan import closing_brace
from sftkit.output.formats import split_reasoning

MAX_ANSWER_CHARS = 2000  # longer "answers" are not answers; only an identical gold matches


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
