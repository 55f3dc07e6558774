r"""Which field of a row is the problem, the gold, the id, the solution, the options; and the gold.

Pipeline order: parse_fields() (the --fields flag) -> detect_fields() (once per file) ->
gold_of() (once per row).

Detection takes the first common name present; `--fields problem=question,answer=target,id=uid`
overrides it role by role. The gold comes from the answer field; a GSM8K answer ending in
`#### 31` has the gold "31"; without an answer, the last `\boxed{}` of the solution (MATH).

Usage:
    fmap = detect_fields(["question", "answer"], parse_fields(""), "gsm.jsonl")
    gold_of({"question": "...", "answer": "3 + 4 = 7\n#### 7"}, fmap)   # -> ("7", GOLD_HASHES)
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from sftkit.common.jsonl import InputError
from sftkit.grading.latex_scan import closing_brace

ROLES = {
    "problem": ("problem", "question", "prompt", "input"),
    "answer": ("answer", "final_answer", "expected_answer", "gold", "target"),
    "id": ("id", "unique_id", "uuid", "problem_id"),
    "solution": ("solution",),
    "choices": ("choices", "options"),
}
ALIASES = {"gold": "answer"}
# Options given as one column per label, MMLU's CSV shape: question, A, B, C, D, answer.
CHOICE_COLUMNS = tuple("ABCDEFGHIJ")

GOLD_ANSWER = "answer field"
GOLD_HASHES = "'#### N' ending of the answer field"
GOLD_BOXED = "last \\boxed{} of the solution field"
GOLD_LABEL = "option the answer field names"

_HASHES = re.compile(r"####\s*(.+?)\s*$", re.S)
_BOX = re.compile(r"\\(?:boxed|fbox)\s*\{")


@dataclass(frozen=True)
class FieldMap:
    """The field names one file uses; None where the file has no such field."""

    problem: str
    answer: str | None = None
    id: str | None = None
    solution: str | None = None
    choices: str | None = None  # one field holding a list or dict of options
    choice_columns: tuple[str, ...] = ()  # or one column per option label

    def describe(self) -> str:
        """One log line: "problem=question, answer=answer, id=-, solution=-"."""
        parts = [f"{r}={getattr(self, r) or '-'}" for r in ("problem", "answer", "id", "solution")]
        if self.choices:
            parts.append(f"choices={self.choices}")
        elif self.choice_columns:
            parts.append(f"choices=columns {','.join(self.choice_columns)}")
        return ", ".join(parts)


def parse_fields(spec: str | None) -> dict[str, str]:
    """The --fields value as {role: field}: "problem=question,answer=target" ->
    {"problem": "question", "answer": "target"}; a bad entry raises InputError("--fields: …")."""
    out: dict[str, str] = {}
    for part in (spec or "").split(","):
        if not part.strip():
            continue
        role, sep, name = (x.strip() for x in part.partition("="))
        role = ALIASES.get(role, role)
        if not sep or not name:
            raise InputError(f"--fields: {part.strip()!r} is not role=field")
        if role not in ROLES:
            raise InputError(f"--fields: unknown role {role!r}; use {', '.join(ROLES)}")
        if role in out:
            raise InputError(f"--fields: {role} given twice")
        out[role] = name
    return out


def _fold(name: str) -> str:
    """How a column name is compared with the common ones: "Final Answer" -> "final_answer"."""
    return re.sub(r"[\s\-]+", "_", name.strip()).casefold()


def detect_fields(columns: list[str], override: dict[str, str], where: str) -> FieldMap:
    """The FieldMap for a file whose rows carry `columns`; InputError when the problem field is
    missing or an override names a field the file does not have.

    (["question", "answer", "uid"], {"id": "uid"}, "x.csv") -> FieldMap("question", "answer", "uid")
    """
    present = f"(fields present: {', '.join(columns) or 'none'})"
    chosen: dict[str, str | None] = {}
    for role, names in ROLES.items():
        if role in override:
            if override[role] not in columns:
                raise InputError(
                    f"{where}: --fields {role}={override[role]}: no field "
                    f"{override[role]!r} in the file {present}"
                )
            chosen[role] = override[role]
        else:
            # Exact names first, then any case and spacing: AIME's "Problem", GPQA's
            # "Question", a spreadsheet's "Final Answer" or "final-answer".
            folded = {_fold(c): c for c in reversed(columns) if isinstance(c, str)}
            chosen[role] = next((n for n in names if n in columns), None) or next(
                (folded[n] for n in names if n in folded), None
            )
    if chosen["problem"] is None:
        raise InputError(
            f"{where}: missing a problem field ({', '.join(ROLES['problem'])}); "
            f"map one with --fields problem=NAME {present}"
        )
    columns_mc = ()
    if chosen["choices"] is None and {"A", "B"} <= set(columns):
        columns_mc = tuple(c for c in CHOICE_COLUMNS if c in columns)
    return FieldMap(
        problem=chosen["problem"],
        answer=chosen["answer"],
        id=chosen["id"],
        solution=chosen["solution"],
        choices=chosen["choices"],
        choice_columns=columns_mc,
    )


def last_boxed(text: str) -> str | None:
    r"""Content of the last complete \boxed{...} in a worked solution, or None.

    "… so $x = \boxed{\frac{1}{2}}$." -> "\frac{1}{2}"
    """
    found = None
    for m in _BOX.finditer(text):
        end = closing_brace(text, m.end() - 1)
        if end != -1:
            found = text[m.end() : end].strip()
    return found or None


def _text(value) -> str | None:
    """A gold value as text: 7 -> "7", 2.5 -> "2.5", ["3", "5"] -> "3, 5"; None if empty."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, list | tuple):
        parts = [_text(v) for v in value]
        return ", ".join(parts) if parts and all(parts) else None
    if not isinstance(value, int | float | str):
        return None
    text = str(value).strip()
    return text or None


def gold_of(row: dict, fmap: FieldMap) -> tuple[int | str | None, str]:
    """(gold, how it was obtained) for one row; (None, why not) when there is none.

    {"answer": 4} -> (4, GOLD_ANSWER); {"answer": "… #### 1,250"} -> ("1,250", GOLD_HASHES);
    {"solution": "… \boxed{3}"} -> ("3", GOLD_BOXED)
    """
    raw = row.get(fmap.answer) if fmap.answer else None
    if isinstance(raw, int) and not isinstance(raw, bool):
        return raw, GOLD_ANSWER  # a choice number stays an int
    text = _text(raw)
    if text is not None:
        if m := _HASHES.search(text):
            return m.group(1), GOLD_HASHES
        if "\\boxed" in text:
            return last_boxed(text) or text, GOLD_ANSWER
        return text, GOLD_ANSWER
    solution = row.get(fmap.solution) if fmap.solution else None
    if isinstance(solution, str) and (boxed := last_boxed(solution)):
        return boxed, GOLD_BOXED
    if raw is not None and not isinstance(raw, str):
        return None, f"'{fmap.answer}' must be a number or text, got {type(raw).__name__}"
    if not fmap.answer:
        names = ", ".join(ROLES["answer"])
        return None, f"no gold: no answer field ({names}); map one with --fields answer=NAME"
    boxed = f" and no \\boxed{{}} in '{fmap.solution}'" if fmap.solution else ""
    return None, f"no gold: missing '{fmap.answer}'{boxed}"
