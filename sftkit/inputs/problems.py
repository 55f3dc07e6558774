r"""Problems: load `data/*_math.jsonl`, build both versions of each problem, build prompts.

Pipeline order: load_problems() -> build_versions() -> build_prompt().

Usage:
    problems = load_problems("data/sample_math.jsonl")
    for version in build_versions(problems[0]):
        prompt = build_prompt(version, sentences, sample_index=0)

A multiple-choice problem carries a block `\begin{itemize} \item[1] ... \item[5] ... \end{itemize}`
and an integer gold (the choice number). Other itemize blocks (conditions `\item[(가)]`, 보기
statements `\item[ㄱ.]`) are part of the problem and are never touched.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path

from sftkit.common.jsonl import InputError, read_jsonl

SUBJECTIVE = "subjectives"
MULTIPLE = "multiples"
TYPES = (SUBJECTIVE, MULTIPLE)

_ITEMIZE = re.compile(r"\\begin\{itemize\}(.*?)\\end\{itemize\}", re.S)
_ITEM = re.compile(r"\\item\s*\[([^\]]*)\]")
_NUMBER_PREFIX = re.compile(r"^\s*\d{1,3}\s*\.\s*")
_SCORE_TAG = re.compile(r"[ \t]*\[\s*\d+(?:\.\d+)?\s*점\s*\]")


@dataclass(frozen=True)
class Problem:
    source: str  # file stem, e.g. "2022_math"
    index: int  # 0-based position in its data file: the `<problem>` of `<problem>_<sample>.jsonl`
    id: str
    text: str  # as in the file, number prefix and score tag included
    answer: int | str  # choice number for multiple choice, else the short answer
    choices: tuple[str, ...] | None  # option texts, or None for a short-answer problem
    path: str = ""
    lineno: int = 0


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


def _parse_answer(raw, has_choices: int, where: str) -> int | str:
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        raise InputError(f"{where}: missing 'answer'")
    if isinstance(raw, bool) or not isinstance(raw, int | float | str):
        raise InputError(
            f"{where}: 'answer' must be a number or a string, got {type(raw).__name__}"
        )
    if not has_choices:
        return raw if isinstance(raw, int) else str(raw).strip()
    text = str(raw).strip()
    if isinstance(raw, float) and raw.is_integer():
        text = str(int(raw))
    if not re.fullmatch(r"\d+", text) or not 1 <= int(text) <= has_choices:
        raise InputError(
            f"{where}: multiple-choice 'answer' must be a choice number 1-{has_choices}, got {raw!r}"
        )
    return int(text)


def load_problems(path: str | Path) -> list[Problem]:
    """Read and validate one problem file; any bad line raises InputError naming file:line."""
    path = Path(path)
    problems: list[Problem] = []
    for lineno, obj in read_jsonl(path):
        where = f"{path}:{lineno}"
        text = obj.get("problem")
        if not isinstance(text, str) or not text.strip():
            raise InputError(f"{where}: missing 'problem' text")
        block = find_choice_block(text)
        choices = block[1] if block else None
        if choices is not None and len(choices) > 5:
            raise InputError(f"{where}: {len(choices)} choices; at most 5 are supported")
        answer = _parse_answer(obj.get("answer"), len(choices) if choices else 0, where)
        if choices is not None and not choices[answer - 1]:
            raise InputError(f"{where}: choice {answer} is empty")
        pid = obj.get("id")
        problems.append(
            Problem(
                source=path.stem,
                index=len(problems),
                id=str(pid) if pid is not None else str(len(problems)),
                text=text,
                answer=answer,
                choices=choices,
                path=str(path),
                lineno=lineno,
            )
        )
    if not problems:
        raise InputError(f"{path}:1: no problems in file")
    return problems


def build_versions(problem: Problem) -> list[Version]:
    """Both versions of a problem: free response first, then multiple choice.

    Free response drops only the choice block and takes the right option's text as gold;
    a short-answer problem appears unchanged in both.
    """
    full = clean_text(problem.text)
    if problem.choices is None:
        return [Version(problem, t, full, problem.answer) for t in TYPES]
    m, choices = find_choice_block(problem.text)
    before, after = problem.text[: m.start()].rstrip(), problem.text[m.end() :].strip()
    # Text after the choices (rare) stays, on its own line so no words are glued together.
    stem = clean_text(f"{before}\n{after}" if after else before)
    return [
        Version(problem, SUBJECTIVE, stem, choices[int(problem.answer) - 1]),
        Version(problem, MULTIPLE, full, int(problem.answer)),
    ]


def load_sentences(path: str | Path) -> list[str]:
    """Read `{"sent": ...}` lines: the instructions asking for a boxed answer."""
    sentences = []
    for lineno, obj in read_jsonl(path):
        sent = obj.get("sent")
        if not isinstance(sent, str) or not sent.strip():
            raise InputError(f"{path}:{lineno}: missing 'sent' text")
        sentences.append(sent.strip())
    if not sentences:
        raise InputError(f"{path}:1: no instruction sentences in file")
    return sentences


def stable_hash(*parts: object) -> int:
    """A 64-bit hash that is the same in every process (Python's hash() is salted)."""
    key = "\x1f".join(str(p) for p in parts).encode("utf-8")
    return int.from_bytes(hashlib.blake2b(key, digest_size=8).digest(), "big")


def build_prompt(version: Version, sentences: list[str], sample_index: int) -> str:
    """Join the body and an instruction chosen by a stable hash of (problem, type, sample).

    Placement (before/after, one or two newlines) comes from the same hash, so a rerun
    builds byte-identical prompts.
    """
    h = stable_hash(version.problem.text, version.type, sample_index)
    sent = sentences[h % len(sentences)]
    sep = "\n" if (h >> 32) & 1 else "\n\n"
    if (h >> 33) & 1:
        return f"{sent}{sep}{version.body}"
    return f"{version.body}{sep}{sent}"
