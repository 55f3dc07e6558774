r"""Instruction sentences in the problem's language: Korean for a problem with Hangul, else English.

Pipeline order: load_sentences() -> Sentences.choose() (per prompt, in build_prompt).

A sentence file holds `{"sent": ...}` lines; a line may say which prompts it serves:
`"lang": "ko"|"en"` and `"for": "free"|"choice"` (a choice sentence asks for the option's label,
which is what the grader accepts). A line without them serves every prompt, so an old
single-list file (`--sentences FILE`) keeps working. The bundled sets, English
and Korean, are the tagged lines of data/sentences_ask_boxed.jsonl.

Usage:
    sentences = load_sentences("data/sentences_ask_boxed.jsonl")
    sentences.choose("ko", "choice")   # ("정답인 선택지의 번호를 \boxed{} 안에 적으세요.", ...)
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from sftkit.common.jsonl import InputError, read_jsonl

LANGS = ("ko", "en")
KINDS = ("free", "choice")
# English and Korean sentences, each line tagged with its language and the prompts it serves.
BUNDLED = Path(__file__).resolve().parents[2] / "data" / "sentences_ask_boxed.jsonl"

_HANGUL = re.compile(r"[\uac00-\ud7a3\u3131-\u318e]")


def language_of(text: str) -> str:
    """ "ko" for text with any Hangul syllable or jamo, else "en": "함수 f(x)의 값은?" -> "ko"."""
    return "ko" if _HANGUL.search(text) else "en"


@dataclass(frozen=True)
class Sentence:
    text: str
    lang: str | None = None  # None: any language
    kind: str | None = None  # None: free response and multiple choice alike


@dataclass(frozen=True)
class Sentences:
    """Every sentence of the run, in file order; choose() is what a prompt draws from."""

    items: tuple[Sentence, ...]

    def choose(self, lang: str, kind: str) -> tuple[str, ...]:
        """The sentences for a prompt: those made for its language and kind; when a file has
        none for that pair, those for its kind, then all (a user's file may be one language)."""
        for fits in (
            lambda s: s.lang in (None, lang) and s.kind in (None, kind),
            lambda s: s.kind in (None, kind),
            lambda s: True,
        ):
            found = tuple(s.text for s in self.items if fits(s))
            if found:
                return found
        return ()

    def __len__(self) -> int:
        return len(self.items)

    def __iter__(self):
        """The sentence texts, as an old plain list of sentences gave them."""
        return (s.text for s in self.items)

    def texts(self) -> list[str]:
        """Every sentence with its tags, for the run signature: a changed tag changes prompts.
        An untagged sentence is its text alone, so an old single-list file signs as before."""
        return [
            s.text
            if s.lang is None and s.kind is None
            else f"{s.lang or '*'}/{s.kind or '*'}/{s.text}"
            for s in self.items
        ]


def load_sentences(paths: str | Path | list | tuple) -> Sentences:
    """Read one or more sentence files; a bad line raises InputError naming file:line."""
    if isinstance(paths, str | Path):
        paths = [paths]
    items = []
    for path in paths:
        count = 0
        for lineno, obj in read_jsonl(path):
            sent = obj.get("sent")
            if not isinstance(sent, str) or not sent.strip():
                raise InputError(f"{path}:{lineno}: missing 'sent' text")
            lang, kind = obj.get("lang"), obj.get("for")
            if lang is not None and lang not in LANGS:
                raise InputError(f"{path}:{lineno}: 'lang' must be one of {', '.join(LANGS)}")
            if kind is not None and kind not in KINDS:
                raise InputError(f"{path}:{lineno}: 'for' must be one of {', '.join(KINDS)}")
            items.append(Sentence(sent.strip(), lang, kind))
            count += 1
        if not count:
            raise InputError(f"{path}:1: no instruction sentences in file")
    return Sentences(tuple(items))
