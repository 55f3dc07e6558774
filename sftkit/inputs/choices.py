r"""Multiple-choice options in public shapes: a list, a dict, or one column per label.

Pipeline order: options_of() (the labels and texts of a row) -> answer_label() (which label
the gold names) -> list_options() (the block the multiple-choice version shows).

Shapes, each with the labels it gets:
    {"choices": ["3", "4", "5"]}                          -> A, B, C (a list is lettered)
    {"options": ["A)3", "B)4", "C)5"]}                     -> A, B, C (AQuA: texts 3, 4, 5)
    {"options": {"A": "3", "B": "4"}}                      -> A, B (the dict's own keys)
    {"choices": {"label": ["1", "2"], "text": ["3", "4"]}} -> 1, 2 (labels beside texts)
    {"A": "3", "B": "4", "C": "5"}                         -> A, B, C (MMLU's CSV columns)
The answer names a label ("B", "(B)", "b"), or is a 0-based index (MMLU: 1 -> "B"), or is the
text of exactly one option.

CSAT problems keep their `\item[1]…\item[5]` block inside the problem text; they are handled
by sftkit.inputs.problems.find_choice_block, not here.
"""

from __future__ import annotations

import re

from sftkit.inputs.fields import FieldMap

LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
_LABELLED = re.compile(r"^\s*\(?([A-Z])\s*[).:]\s*(\S.*)$", re.S)


def _option_text(value) -> str | None:
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int | float | str):
        text = str(value).strip()
        return text or None
    return None


def _own_labels(options) -> tuple[list[str], list[str]] | None:
    """The labels a list of options writes itself, AQuA's shape, or None:
    ["A)21", "B)24"] -> (["A", "B"], ["21", "24"]); ["21", "24"] -> None."""
    found = [_LABELLED.match(x) if isinstance(x, str) else None for x in options]
    if not all(found) or [m.group(1) for m in found] != list(LETTERS[: len(options)]):
        return None
    return [m.group(1) for m in found], [m.group(2) for m in found]


def options_of(row: dict, fmap: FieldMap) -> tuple[tuple[str, ...], tuple[str, ...]] | str | None:
    """(labels, option texts) of a row, None when it has no options, or what is wrong.

    {"choices": ["$3$", "$4$"]} -> (("A", "B"), ("$3$", "$4$"))
    """
    if fmap.choices:
        raw = row.get(fmap.choices)
        if raw is None or raw == [] or raw == {}:
            return None
        if isinstance(raw, dict) and set(raw) == {"label", "text"}:
            labels, texts = raw["label"], raw["text"]
            if not isinstance(labels, list) or not isinstance(texts, list):
                return f"'{fmap.choices}' label and text must be lists"
            if len(labels) != len(texts):
                return f"'{fmap.choices}' has {len(labels)} labels for {len(texts)} texts"
        elif isinstance(raw, dict):
            labels, texts = list(raw), list(raw.values())
        elif isinstance(raw, list | tuple):
            if len(raw) > len(LETTERS):
                return f"'{fmap.choices}' has {len(raw)} options; at most 26 are supported"
            labels, texts = _own_labels(raw) or (list(LETTERS[: len(raw)]), list(raw))
        else:
            return f"'{fmap.choices}' must be a list or a dict, got {type(raw).__name__}"
    elif fmap.choice_columns:
        labels = [c for c in fmap.choice_columns if _option_text(row.get(c)) is not None]
        texts = [row[c] for c in labels]
        if not labels:
            return None
    else:
        return None
    labels = [str(x).strip() for x in labels]
    texts = [_option_text(t) for t in texts]
    if len(labels) < 2:
        return f"{len(labels)} option; multiple choice needs at least 2"
    if any(not x for x in labels) or len(set(labels)) != len(labels):
        return f"option labels must be distinct and non-empty, got {labels}"
    if any(t is None for t in texts):
        return f"option {labels[texts.index(None)]} is empty"
    return tuple(labels), tuple(texts)


def answer_label(raw, labels: tuple[str, ...], texts: tuple[str, ...]) -> str | None:
    """The label the answer names, or None if it names none.

    ("(b)", ("A", "B")) -> "B"; (1, ("A", "B")) -> "B"; ("$4$", …, texts ("$3$", "$4$")) -> "B"
    """
    if isinstance(raw, bool) or raw is None:
        return None
    if isinstance(raw, float) and raw.is_integer():
        raw = int(raw)
    text = str(raw).strip()
    if text in labels:
        return text
    bare = re.sub(r"^\(?\s*([^()\s.:]+)\s*[).:]?$", r"\1", text)
    for label in labels:
        if bare.casefold() == label.casefold():
            return label
    if isinstance(raw, str):
        same = [label for label, option in zip(labels, texts, strict=True) if option == text]
        if len(same) == 1:
            return same[0]
    if isinstance(raw, int) or re.fullmatch(r"\d+", text):
        k = int(text)
        return labels[k] if 0 <= k < len(labels) else None
    return None


def list_options(stem: str, labels: tuple[str, ...], texts: tuple[str, ...]) -> str:
    """The multiple-choice body: the stem, a blank line, one "(label) text" line per option.

    ("Find x.", ("A", "B"), ("$3$", "$4$")) -> "Find x.\n\n(A) $3$\n(B) $4$"
    """
    lines = "\n".join(f"({label}) {text}" for label, text in zip(labels, texts, strict=True))
    return f"{stem}\n\n{lines}"
