r"""Decontamination: find input problems that share a word n-gram with a benchmark problem.

Pipeline order: Tokenizer.batch() -> build_index() -> find_contaminated().

Text is normalised before it is cut into words: Unicode NFKC, lower case, LaTeX spacing and
sizing commands dropped (`\left`, `\,`, `\displaystyle`, `\text`), synonyms folded (`\dfrac` ->
`\frac`, `\le` -> `\leq`), braces, dollars, operator signs and punctuation dropped; digits are
kept. A "word" is a run of letters, a run of digits or a LaTeX command, so "$x^{2}+\dfrac{1}{2}$"
and "x^2 + \frac12" are both `x 2 \frac 1 2`. Operator signs are not words: as words, "Let
$f(x) = x^2 +$" alone would be 8 of them, a start that thousands of unrelated problems share.

An input problem is contaminated when it shares one n-gram (n words in a row, default 8) with a
benchmark problem. A benchmark problem shorter than n words is matched on its whole normalised
text: an input problem holding all its words in order is contaminated ("Compute $\dbinom{31}{28}$."
is 4 words); below MIN_CONTAINED words only an input problem equal to it is.

Every word gets a stable 64-bit hash; an n-gram's hash is a polynomial of its words' hashes
computed for a whole batch of problems at once with numpy uint64 arithmetic. The benchmark side is
one sorted uint64 array (8 bytes per n-gram) with the owning benchmark problem beside it, so
5,000 benchmark problems take a few MB.

Usage:
    index = build_index([("bench/math500.jsonl", 1, "Find all $x$ such that ...", "3")], n=8)
    for hit in find_contaminated(index, [("algebra", 12, "Find all x such that ...", "3")]):
        hit.ngram  # "find all x such that x 2 3"
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from itertools import islice

import numpy as np

DEFAULT_NGRAM = 8
# A benchmark problem of MIN_CONTAINED..n-1 words contaminates an input problem that holds all its
# words in order; one of fewer words ("Compute 7!" has 3) only an input problem equal to it.
MIN_CONTAINED = 3
PREFIX_BITS = 22  # 4 MB of flags per n-gram size: 5,000 benchmark problems fill 7% of them
# One input row: (source, 0-based row in its file, problem text, gold).
Row = tuple[str, int, str, object]

# Lower-cased text: LaTeX command | digits | letters (any script) | batch separator.
_WORD = re.compile(r"\\[a-z]+|\d+|[^\W\d_]+|\x00")
_SEP_CHAR = "\x00"
# Commands that change only how a formula looks, never what it says.
_DROPPED = frozenset(
    r"\left \right \big \bigl \bigr \bigg \biggl \biggr \displaystyle \textstyle \limits \quad"
    r" \qquad \text \textrm \textbf \textit \mathrm \mathbf \mathit \mathrm \operatorname \mbox"
    r" \boldsymbol \bm \hspace \vspace \mathbb \lvert \rvert \vert \lbrace \rbrace".split()
)
_SYNONYMS = {
    r"\dfrac": r"\frac",
    r"\tfrac": r"\frac",
    r"\cfrac": r"\frac",
    r"\dbinom": r"\binom",
    r"\tbinom": r"\binom",
    r"\le": r"\leq",
    r"\leqslant": r"\leq",
    r"\ge": r"\geq",
    r"\geqslant": r"\geq",
    r"\ne": r"\neq",
    r"\to": r"\rightarrow",
    r"\cdots": r"\ldots",
    r"\dots": r"\ldots",
}
_DROP, _SEP = np.uint64(0), np.uint64(1)  # word hashes are never 0 or 1
_P = np.uint64(0x9E3779B97F4A7C15)  # odd multiplier of the n-gram polynomial
_MASK = (1 << 64) - 1


def _canonical(word: str) -> str | None:
    """'\\dfrac' -> '\\frac', '\\left' -> None (dropped), 'x' -> 'x'."""
    if word in _DROPPED:
        return None
    return _SYNONYMS.get(word, word)


class _WordHashes(dict):
    """word -> stable 64-bit hash (the same in every process), computed once per distinct word."""

    def __missing__(self, word: str) -> np.uint64:
        canon = _canonical(word)
        if word == _SEP_CHAR:
            value = _SEP
        elif canon is None:
            value = _DROP
        else:
            digest = hashlib.blake2b(canon.encode("utf-8"), digest_size=8).digest()
            value = np.uint64(max(2, int.from_bytes(digest, "little")))
        self[word] = value
        return value


# \frac12 is \frac{1}{2}: one digit per argument when the braces are left out.
_BARE_FRAC = re.compile(r"(\\[dt]?frac)\s*(\d)\s*(\d)")
# Layout, not content: environment names and item labels ("\begin{itemize} \item[1]") are the
# same in every multiple-choice problem and would make its choice block a shared 8-gram.
_LAYOUT = re.compile(r"\\(?:begin|end)\s*\{[^}]*\}|\\item\s*(?:\[[^\]]*\])?")


def _prepare(text: str) -> str:
    r"""NFKC, lower case, layout out, bare fraction arguments split: '\dfrac12' ->
    '\dfrac{1}{2}', '\begin{itemize} \item[1] $2$' -> '   $2$'."""
    text = _LAYOUT.sub(" ", unicodedata.normalize("NFKC", text).lower())
    return _BARE_FRAC.sub(r"\1{\2}{\3}", text)


@dataclass
class Batch:
    """Word hashes of a batch of texts, separated by _SEP: texts ["a b", "c"] -> [a, b, SEP, c]."""

    words: np.ndarray  # uint64
    is_sep: np.ndarray  # bool, same length
    segment: np.ndarray  # int64: which text each word belongs to
    starts: np.ndarray  # int64: index in `words` of each text's first word
    counts: np.ndarray  # int64: words per text

    def windows(self, sizes) -> Iterator[tuple[int, np.ndarray, np.ndarray, np.ndarray]]:
        """(m, hashes, text index, word position in its text) of every m-gram inside one text,
        for each m in `sizes` (ascending); the m+1-gram hashes extend the m-gram ones, so all
        sizes up to n cost n passes over the words."""
        wanted, words = sorted(set(sizes)), self.words
        if not wanted:
            return
        h = words.copy()
        for m in range(1, wanted[-1] + 1):
            size = len(words) - m + 1
            if size <= 0:
                return
            if m > 1:  # in place: h is this batch's own copy
                h = h[:size]
                h *= _P
                h += words[m - 1 : m - 1 + size]
            if m not in wanted:
                continue
            valid = (self.segment[:size] == self.segment[m - 1 :]) & ~self.is_sep[:size]
            where = np.flatnonzero(valid)
            text = self.segment[where]
            yield m, h[where], text, where - self.starts[text]

    def ngrams(self, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(hashes, text index, word position in its text) of every n-gram inside one text."""
        for _, h, text, position in self.windows([n]):
            return h, text, position
        empty = np.zeros(0, dtype=np.int64)
        return np.zeros(0, dtype=np.uint64), empty, empty

    def whole(self, i: int) -> int:
        """A hash of text i's whole word sequence (its length included)."""
        h = int(self.counts[i])
        for w in self.words[self.starts[i] : self.starts[i] + self.counts[i]].tolist():
            h = (h * int(_P) + w) & _MASK
        return h


class Tokenizer:
    """Normalised words of a text, and their hashes for a batch of texts."""

    def __init__(self) -> None:
        self._hashes = _WordHashes()

    def words(self, text: str) -> list[str]:
        r"""'Find $\dfrac{1}{2}$ of  X.' -> ['find', '\\frac', '1', '2', 'of', 'x']"""
        found = (_canonical(w) for w in _WORD.findall(_prepare(text.replace(_SEP_CHAR, " "))))
        return [w for w in found if w is not None]

    def batch(self, texts: list[str]) -> Batch:
        """One regex pass over the joined batch, one dict lookup per word, then numpy."""
        joined = _SEP_CHAR.join(t.replace(_SEP_CHAR, " ") for t in texts)
        found = _WORD.findall(_prepare(joined))
        words = np.fromiter(map(self._hashes.__getitem__, found), np.uint64, len(found))
        words = words[words != _DROP]
        is_sep = words == _SEP
        segment = np.cumsum(is_sep)
        starts = np.concatenate(([0], np.flatnonzero(is_sep) + 1))
        counts = np.bincount(segment[~is_sep], minlength=len(texts))[: len(texts)]
        return Batch(words, is_sep, segment, starts, counts)


@dataclass(frozen=True)
class BenchProblem:
    file: str  # the benchmark file as given on the command line
    row: int  # its row in that file, as the reader counts them (a JSONL line number)


@dataclass
class BenchIndex:
    """Sorted m-gram hashes of the benchmark problems, and which problem owns each one.

    tables[n] holds every n-gram; tables[m] for MIN_CONTAINED <= m < n holds the whole text of
    each benchmark problem of exactly m words; `exact` the whole-text hashes of shorter ones.
    """

    n: int
    tokenizer: Tokenizer
    problems: list[BenchProblem]
    tables: dict[int, tuple[np.ndarray, np.ndarray]]  # m -> (sorted unique uint64, int32 owner)
    exact: tuple[np.ndarray, np.ndarray]
    bits: dict[int, np.ndarray] = field(default_factory=dict)  # m -> _prefix_bits(tables[m])

    def __post_init__(self) -> None:
        # Worth its 4 MB only in front of a big table; a small one is searched as it is.
        self.bits = {m: _prefix_bits(h) for m, (h, _) in self.tables.items() if len(h) > 4096}

    @property
    def nbytes(self) -> int:
        arrays = [a for pair in (*self.tables.values(), self.exact) for a in pair]
        return sum(a.nbytes for a in [*arrays, *self.bits.values()])

    @property
    def ngrams(self) -> int:
        return sum(len(h) for h, _ in self.tables.values()) + len(self.exact[0])


def _sorted_unique(hashes: list[np.ndarray], owners: list[np.ndarray]):
    h = np.concatenate(hashes) if hashes else np.zeros(0, dtype=np.uint64)
    o = np.concatenate(owners) if owners else np.zeros(0, dtype=np.int32)
    h, first = np.unique(h, return_index=True)
    return h, o[first].astype(np.int32)


def _chunks(rows: Iterable[Row], size: int) -> Iterator[list[Row]]:
    it = iter(rows)
    while chunk := list(islice(it, size)):
        yield chunk


def build_index(rows: Iterable[Row], n: int = DEFAULT_NGRAM, chunk: int = 20_000) -> BenchIndex:
    """Index benchmark rows (file, row, problem, gold); the gold is not used."""
    if n < 1:
        raise ValueError(f"n-gram size must be at least 1, got {n}")
    tok, contained = Tokenizer(), min(MIN_CONTAINED, n)
    problems: list[BenchProblem] = []
    parts: dict[int, tuple[list, list]] = {m: ([], []) for m in range(contained, n + 1)}
    exact: tuple[list, list] = ([], [])
    for rows_chunk in _chunks(rows, chunk):
        base = len(problems)
        problems.extend(BenchProblem(str(r[0]), int(r[1])) for r in rows_chunk)
        batch = tok.batch([r[2] for r in rows_chunk])
        for m, h, text, _ in batch.windows(range(contained, n + 1)):
            if m < n:  # a short problem: only its whole text, never a part of a longer one
                keep = batch.counts[text] == m
                h, text = h[keep], text[keep]
            parts[m][0].append(h)
            parts[m][1].append((text + base).astype(np.int32))
        for i in np.flatnonzero((batch.counts > 0) & (batch.counts < contained)).tolist():
            exact[0].append(np.array([batch.whole(i)], dtype=np.uint64))
            exact[1].append(np.array([base + i], dtype=np.int32))
    tables = {m: _sorted_unique(*pair) for m, pair in parts.items()}
    return BenchIndex(n, tok, problems, tables, _sorted_unique(*exact))


@dataclass(frozen=True)
class Hit:
    """One contaminated input problem and the benchmark words it shares."""

    source: str
    row: int
    problem: str
    benchmark_file: str
    benchmark_row: int
    ngram: str  # the shared normalised words, e.g. "find the number of ordered pairs of integers"

    def record(self) -> dict:
        """The line written to <output>/contamination.jsonl."""
        return {
            "source": self.source,
            "row": self.row,
            "problem": self.problem,
            "benchmark_file": self.benchmark_file,
            "benchmark_row": self.benchmark_row,
            "ngram": self.ngram,
        }


def _prefix_bits(sorted_hashes: np.ndarray) -> np.ndarray:
    """One bool per value of a hash's top PREFIX_BITS bits: is any benchmark n-gram there?"""
    bits = np.zeros(1 << PREFIX_BITS, dtype=bool)
    bits[sorted_hashes >> np.uint64(64 - PREFIX_BITS)] = True
    return bits


def _lookup(
    sorted_hashes: np.ndarray, query: np.ndarray, bits: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """(found mask, position in sorted_hashes) for each query hash. With `bits`
    (_prefix_bits), only the few queries whose prefix a benchmark n-gram has are searched:
    an input n-gram is almost never a benchmark one."""
    found = np.zeros(len(query), dtype=bool)
    pos = np.zeros(len(query), dtype=np.int64)
    if len(sorted_hashes) == 0:
        return found, pos
    maybe = (
        np.flatnonzero(bits[query >> np.uint64(64 - PREFIX_BITS)])
        if bits is not None
        else np.arange(len(query))
    )
    at = np.searchsorted(sorted_hashes, query[maybe])
    at[at == len(sorted_hashes)] = 0
    found[maybe] = sorted_hashes[at] == query[maybe]
    pos[maybe] = at
    return found, pos


def _hits_in_chunk(index: BenchIndex, rows: list[Row]) -> Iterator[Hit]:
    batch = index.tokenizer.batch([r[2] for r in rows])
    where: dict[int, tuple[int, int, int]] = {}  # text -> (owner, first word, words shared)
    sizes = [m for m, (h, _) in index.tables.items() if len(h)]
    for m, h, text, position in batch.windows(sizes):
        hashes, owners = index.tables[m]
        found, pos = _lookup(hashes, h, index.bits.get(m))
        if not found.any():
            continue
        # Windows come in text order, so the first window of each contaminated text is its
        # earliest; a longer match (sizes ascend) replaces a shorter one as the evidence.
        texts, first = np.unique(text[found], return_index=True)
        owner = owners[pos[found][first]].tolist()
        for t, o, p in zip(texts.tolist(), owner, position[found][first].tolist(), strict=True):
            where[t] = (o, p, m)
    exact_hashes, exact_owners = index.exact
    if len(exact_hashes):
        for i in np.flatnonzero((batch.counts > 0) & (batch.counts < MIN_CONTAINED)).tolist():
            ok, p = _lookup(exact_hashes, np.array([batch.whole(i)], dtype=np.uint64))
            if ok[0] and i not in where:
                where[i] = (int(exact_owners[p[0]]), 0, int(batch.counts[i]))
    for i in sorted(where):
        owner_i, start, m = where[i]
        source, row, problem = rows[i][0], rows[i][1], rows[i][2]
        words = index.tokenizer.words(problem)
        bench = index.problems[owner_i]
        ngram = " ".join(words[start : start + m])
        yield Hit(str(source), int(row), problem, bench.file, bench.row, ngram)


def find_contaminated(index: BenchIndex, rows: Iterable[Row], chunk: int = 20_000) -> Iterator[Hit]:
    """Yield a Hit for every input row sharing an n-gram with a benchmark problem, or holding the
    whole text of a shorter one; rows are read `chunk` at a time."""
    for rows_chunk in _chunks(rows, chunk):
        yield from _hits_in_chunk(index, rows_chunk)
