r"""Problems: read a problem file of any shape, build the versions of each problem, build prompts.

Pipeline order: read_problem_file() -> build_versions() -> build_prompt().

Usage:
    problems = load_problems("data/sample_math.jsonl")
    for version in build_versions(problems[0], "auto"):
        prompt = build_prompt(version, sentences, sample_index=0)

A CSAT multiple-choice problem carries a block `\begin{itemize} \item[1] ... \item[5] ...
\end{itemize}` and an integer gold (the choice number). Other itemize blocks (conditions
`\item[(가)]`, 보기 statements `\item[ㄱ.]`) are part of the problem and are never touched. A
public multiple-choice problem carries its options apart (sftkit.inputs.choices) and its gold is
the option's label ("B").
"""

from __future__ import annotations

import hashlib
import re
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from sftkit.common.jsonl import InputError
from sftkit.inputs.choices import answer_label, list_options, options_of
from sftkit.inputs.fields import GOLD_LABEL, FieldMap, detect_fields, gold_of, parse_fields
from sftkit.inputs.instructions import Sentences, language_of
from sftkit.inputs.instructions import load_sentences as load_sentences  # tests, old callers
from sftkit.inputs.readers import read_rows

SUBJECTIVE = "subjectives"
MULTIPLE = "multiples"
TYPES = (SUBJECTIVE, MULTIPLE)
# --versions: auto asks a problem without choices once (free response), one with choices twice.
VERSION_MODES = ("auto", "both", "free", "choice")

_ITEMIZE = re.compile(r"\\begin\{itemize\}(.*?)\\end\{itemize\}", re.S)
_ITEM = re.compile(r"\\item\s*\[([^\]]*)\]")
# "12. 함수 …" loses its exam number; "3.5 liters …" keeps its decimal.
_NUMBER_PREFIX = re.compile(r"^\s*\d{1,3}\s*\.(?!\d)\s*")
_SCORE_TAG = re.compile(r"[ \t]*\[\s*\d+(?:\.\d+)?\s*점\s*\]")


@dataclass(frozen=True)
class Problem:
    source: str  # file stem, e.g. "2022_math"
    index: int  # 0-based position in its data file: the `<problem>` of `<problem>_<sample>.jsonl`
    id: str
    text: str  # as in the file, number prefix and score tag included
    answer: int | str  # CSAT choice number, a public option's label, else the short answer
    choices: tuple[str, ...] | None  # option texts, or None for a short-answer problem
    path: str = ""
    lineno: int = 0  # 1-based row of the file (the line, for JSONL): with path, the row key
    labels: tuple[str, ...] | None = None  # a public set's option labels; None for CSAT (1..k)
    gold_source: str = ""  # how the gold was found (sftkit.inputs.fields.GOLD_*)

    @property
    def row_key(self) -> str:
        """Where the row came from, stable across runs: "gsm_test.parquet:12"."""
        return f"{Path(self.path).name}:{self.lineno}"


@dataclass(frozen=True)
class Version:
    problem: Problem
    type: str  # SUBJECTIVE or MULTIPLE
    body: str  # cleaned problem text sent to the model (before the instruction sentence)
    gold: int | str  # what the grader compares against


def find_choice_block(text: str) -> tuple[re.Match, tuple[str, ...]] | None:
    r"""Return (match, option texts) of the itemize block labelled 1..k, or None.

    "... \begin{itemize} \item[1] $1$ \item[2] $2$ \end{itemize}" -> (match, ("$1$", "$2$"))
    """
    found = None
    for m in _ITEMIZE.finditer(text):
        parts = _ITEM.split(m.group(1))
        labels = [p.strip() for p in parts[1::2]]
        if len(labels) >= 2 and labels == [str(i) for i in range(1, len(labels) + 1)]:
            # The last such block wins: choices close an exam problem.
            found = (m, tuple(p.strip() for p in parts[2::2]))
    return found


def clean_text(text: str) -> str:
    """Strip the leading problem number and every score tag.

    "12. 함수 ... 구하시오. [4점]" -> "함수 ... 구하시오."
    """
    text = _NUMBER_PREFIX.sub("", text, count=1)
    text = _SCORE_TAG.sub("", text)
    return text.strip()


def _csat_answer(raw, k: int) -> int | None:
    """The choice number 1..k an answer names ("4", 4, 4.0), else None."""
    text = str(int(raw)) if isinstance(raw, float) and raw.is_integer() else str(raw).strip()
    return int(text) if re.fullmatch(r"\d+", text) and 1 <= int(text) <= k else None


def problem_from_row(row: dict, fmap: FieldMap, path: Path, lineno: int, index: int) -> Problem:
    """One row as a Problem; what is wrong raises InputError `file:row: … (fields present: …)`.

    {"question": "2+5?", "answer": "… #### 7"} -> Problem(text="2+5?", answer="7", …)
    """
    where = f"{path}:{lineno}"
    present = f"(fields present: {', '.join(map(str, row)) or 'none'})"
    text = row.get(fmap.problem)
    if not isinstance(text, str) or not text.strip():
        raise InputError(f"{where}: no problem text in '{fmap.problem}' {present}")
    gold, how = gold_of(row, fmap)
    if gold is None:
        raise InputError(f"{where}: {how} {present}")
    labels = choices = None
    block = find_choice_block(text)
    if block is not None:
        choices = block[1]
        if len(choices) > 5:
            raise InputError(f"{where}: {len(choices)} choices; at most 5 are supported")
        gold = _csat_answer(row.get(fmap.answer) if fmap.answer else None, len(choices))
        if gold is None:
            raise InputError(
                f"{where}: multiple-choice '{fmap.answer}' must be a choice number "
                f"1-{len(choices)}, got {row.get(fmap.answer)!r} {present}"
            )
        if not choices[gold - 1]:
            raise InputError(f"{where}: choice {gold} is empty")
    else:
        found = options_of(row, fmap)
        if isinstance(found, str):
            raise InputError(f"{where}: {found} {present}")
        if found is not None:
            labels, choices = found
            how = GOLD_LABEL
            gold = answer_label(row.get(fmap.answer) if fmap.answer else None, labels, choices)
            if gold is None:
                raise InputError(
                    f"{where}: '{fmap.answer}' names no option of {', '.join(labels)}: "
                    f"{row.get(fmap.answer)!r} {present}"
                )
    pid = row.get(fmap.id) if fmap.id else None
    return Problem(
        source=path.stem,
        index=index,
        id=str(pid) if pid is not None else str(index),
        text=text,
        answer=gold,
        choices=choices,
        path=str(path),
        lineno=lineno,
        labels=labels,
        gold_source=how,
    )


@dataclass
class ProblemFile:
    """One file read: its problems, the field mapping, how golds were found, the bad rows."""

    path: Path
    fields: FieldMap | None
    problems: list[Problem]
    gold_sources: Counter
    bad_rows: list[str]  # the error lines of rows skipped with skip_bad_rows


def read_problem_file(
    path: str | Path, fields: dict[str, str] | None = None, skip_bad_rows: bool = False
) -> ProblemFile:
    """Read one problem file of any supported shape (sftkit.inputs.readers).

    `fields` is the parsed --fields ({"problem": "question"}); a bad row raises InputError naming
    file:row, or with skip_bad_rows is counted in `bad_rows` and left out. A problem keeps its
    row's position as `index`, so skipping a row never renumbers the others.
    read_problem_file("gsm.jsonl").problems[0].answer -> "7"
    """
    path = Path(path)
    rows = list(read_rows(path))
    columns = list(dict.fromkeys(k for _, obj in rows if isinstance(obj, dict) for k in obj))
    fmap = detect_fields(columns, fields or {}, f"{path}:1") if columns else None
    out = ProblemFile(path, fmap, [], Counter(), [])
    for index, (lineno, obj) in enumerate(rows):
        try:
            if isinstance(obj, str):
                raise InputError(obj)
            problem = problem_from_row(obj, fmap, path, lineno, index)
        except InputError as exc:
            if not skip_bad_rows:
                raise
            out.bad_rows.append(str(exc))
            continue
        out.problems.append(problem)
        out.gold_sources[problem.gold_source] += 1
    if not out.problems and not out.bad_rows:
        raise InputError(f"{path}:1: no problems in file")
    return out


def read_problems(
    path: str | Path, fields: str | dict[str, str] | None = None, skip_bad_rows: bool = False
) -> list[Problem]:
    """The problems of one file of any supported shape, for any stage that reads problem sets
    (generation, decontamination against benchmark files). `fields` is the --fields text or its
    parsed dict; a bad row raises InputError `file:row: … (fields present: …)` unless skipped.

    read_problems("gsm.jsonl")[0] -> Problem(text="Mina buys…", answer="31", row_key="gsm.jsonl:1")
    read_problems("b.parquet", "problem=query,answer=label")
    """
    if isinstance(fields, str | None):
        fields = parse_fields(fields)
    return read_problem_file(path, fields, skip_bad_rows).problems


def load_problems(path: str | Path, fields: dict[str, str] | None = None) -> list[Problem]:
    """Read and validate one problem file; any bad row raises InputError naming file:row."""
    return read_problem_file(path, fields).problems


def build_versions(problem: Problem, mode: str = "both") -> list[Version]:
    """The versions of a problem asked under --versions `mode`, free response first.

    Free response drops only the choices and takes the right option's text as gold; multiple
    choice shows them, with the gold its choice number (CSAT) or label (public sets). A problem
    without choices is asked once under "auto" and "free", twice unchanged under "both" (the
    original behaviour), not at all under "choice".
    """
    full = clean_text(problem.text)
    if problem.choices is None:
        wanted = {"auto": (SUBJECTIVE,), "both": TYPES, "free": (SUBJECTIVE,), "choice": ()}
        return [Version(problem, t, full, problem.answer) for t in wanted[mode]]
    if problem.labels is not None:
        right = problem.choices[problem.labels.index(str(problem.answer))]
        stem, mult = full, list_options(full, problem.labels, problem.choices)
        both = [
            Version(problem, SUBJECTIVE, stem, right),
            Version(problem, MULTIPLE, mult, problem.answer),
        ]
    else:
        m, choices = find_choice_block(problem.text)
        before, after = problem.text[: m.start()].rstrip(), problem.text[m.end() :].strip()
        # Text after the choices (rare) stays, on its own line so no words are glued together.
        stem = clean_text(f"{before}\n{after}" if after else before)
        both = [
            Version(problem, SUBJECTIVE, stem, choices[int(problem.answer) - 1]),
            Version(problem, MULTIPLE, full, int(problem.answer)),
        ]
    return {"auto": both, "both": both, "free": both[:1], "choice": both[1:]}[mode]


def stable_hash(*parts: object) -> int:
    """A 64-bit hash that is the same in every process (Python's hash() is salted)."""
    key = "\x1f".join(str(p) for p in parts).encode("utf-8")
    return int.from_bytes(hashlib.blake2b(key, digest_size=8).digest(), "big")


def build_prompt(version: Version, sentences: Sentences | list[str], sample_index: int) -> str:
    """Join the body and an instruction chosen by a stable hash of (problem, type, sample).

    The instruction is in the problem's language, and a multiple-choice version's asks for the
    option's label (sftkit.inputs.instructions); a plain list serves every prompt. Placement
    (before/after, one or two newlines) comes from the same hash, so a rerun builds
    byte-identical prompts.
    """
    if isinstance(sentences, Sentences):
        kind = "choice" if version.type == MULTIPLE and version.problem.choices else "free"
        sentences = sentences.choose(language_of(version.problem.text), kind)
    h = stable_hash(version.problem.text, version.type, sample_index)
    sent = sentences[h % len(sentences)]
    sep = "\n" if (h >> 32) & 1 else "\n\n"
    if (h >> 33) & 1:
        return f"{sent}{sep}{version.body}"
    return f"{version.body}{sep}{sent}"
