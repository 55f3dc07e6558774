r"""Near-duplicate problems in the input: MinHash LSH (datasketch) over word shingles.

Pipeline order: shingle sets -> MinHash -> MinHashLSH candidates -> exact Jaccard check ->
clusters (connected components) -> keep_one() / summary().

Two problems are near duplicates when the Jaccard similarity of their sets of word 2-shingles
(two consecutive normalised words, as decontam.Tokenizer cuts them) is at least 0.8. Math
problems are short: one word changed in a 20-word problem breaks 2 of 19 2-shingles (Jaccard
17/21 = 0.81, a near duplicate) but 3 of 18 3-shingles (15/21 = 0.71, not one). LSH only
proposes candidate pairs; each pair is confirmed on the exact shingle sets, so every link of a
cluster is a pair at or above the threshold. A one-word problem is its own single shingle.

Inside a cluster, members whose golds differ (after sftkit.grading's normalize_answer) are
reported apart: either the numbers changed and these are different problems, or one gold is
wrong. keep_one() therefore drops only a member whose gold an earlier member already has.

Usage:
    clusters = find_clusters([("algebra", 1, "Find x if 2x+1=7.", "3"), ...])
    dropped = keep_one(clusters)            # {row indices to leave out}
    summary(clusters, dropped)              # {"clusters": 1, "different_gold_clusters": 0, ...}
    save_clusters(path, cache_key(rows, 0.8), clusters)   # a rerun: load_clusters(path, key)
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from sftkit.common.jsonl import atomic_write_text
from sftkit.grading.normalize import normalize_answer
from sftkit.inputs.decontam import Row, Tokenizer

DEFAULT_THRESHOLD = 0.8
DEFAULT_SHINGLE = 2
NUM_PERM = 64  # 128 cost 40% more time and memory for the same clusters (bench_decontam.py)
LSH_WEIGHTS = (0.01, 0.99)  # false positives, false negatives: see find_clusters()
MODES = ("report", "keep_one", "off")


@dataclass(frozen=True)
class Cluster:
    members: tuple[int, ...]  # indices into the rows given to find_clusters(), in input order
    golds: tuple[str, ...]  # each member's normalised gold
    min_jaccard: float  # the lowest confirmed similarity among the pairs that link it

    @property
    def golds_differ(self) -> bool:
        return len(set(self.golds)) > 1


def _shingle_sets(rows: Sequence[Row], shingle: int, chunk: int = 20_000) -> list[np.ndarray]:
    """Sorted unique shingle hashes of each row's problem."""
    tok, sets = Tokenizer(), []
    for start in range(0, len(rows), chunk):
        batch = tok.batch([r[2] for r in rows[start : start + chunk]])
        h, text, _ = batch.ngrams(shingle)
        order = np.lexsort((h, text))  # by text, then hash: each set sorted, repeats adjacent
        h, text = h[order], text[order]
        unique = np.ones(len(h), dtype=bool)
        unique[1:] = (h[1:] != h[:-1]) | (text[1:] != text[:-1])
        h, text = h[unique], text[unique]
        bounds = np.searchsorted(text, np.arange(1, len(batch.counts)))
        for i, s in enumerate(np.split(h, bounds)):
            if not len(s) and batch.counts[i]:  # fewer words than a shingle: the whole text
                s = np.array([batch.whole(i)], dtype=np.uint64)
            sets.append(s)
    return sets


def _jaccard(a: np.ndarray, b: np.ndarray) -> float:
    inter = len(np.intersect1d(a, b, assume_unique=True))
    union = len(a) + len(b) - inter
    return inter / union if union else 0.0


def _root(parent: list[int], i: int) -> int:
    while parent[i] != i:
        parent[i] = parent[parent[i]]
        i = parent[i]
    return i


def find_clusters(
    rows: Sequence[Row],
    threshold: float = DEFAULT_THRESHOLD,
    shingle: int = DEFAULT_SHINGLE,
    num_perm: int = NUM_PERM,
) -> list[Cluster]:
    """Clusters of 2+ rows (source, row, problem, gold) whose problems are near duplicates,
    ordered by their first member."""
    # Here, not at the top: datasketch loads scipy (0.5 s), which a run with --near_dup off and
    # the launcher's checks do not need.
    from datasketch import MinHash, MinHashLSH

    sets = _shingle_sets(rows, shingle)
    # The shingle hashes are already 64-bit: hand them to MinHash as they are.
    sketches = MinHash.generator(
        (s.tolist() for s in sets), num_perm=num_perm, hashfunc=int, scheme="affine64"
    )
    # Bands weighted for recall: with 64 permutations datasketch's default (equal weights) finds
    # a pair at exactly 0.8 with probability 0.36 (5 bands of 11 rows); 0.01/0.99 picks 12 bands
    # of 5 rows, which find it with 0.991 (0.998 at 0.84). The extra candidates are checked on
    # the exact shingle sets, never clustered unchecked.
    lsh = MinHashLSH(threshold=threshold, num_perm=num_perm, weights=LSH_WEIGHTS)
    parent = list(range(len(rows)))
    weakest: dict[int, float] = {}
    # Query, then insert: each pair is proposed once, when its later member comes, and no
    # sketch is kept beyond the index (100k problems: 0.5 GB less than keeping them all).
    for i, m in enumerate(sketches):
        if not len(sets[i]):
            continue
        for j in lsh.query(m):
            sim = _jaccard(sets[i], sets[j])
            if sim >= threshold:
                ri, rj = _root(parent, i), _root(parent, j)
                low = min(sim, weakest.get(ri, 1.0), weakest.get(rj, 1.0))
                parent[max(ri, rj)] = min(ri, rj)
                weakest[min(ri, rj)] = low
        lsh.insert(i, m, check_duplication=False)
    groups: dict[int, list[int]] = {}
    for i in range(len(rows)):
        if parent[i] != i or i in weakest:
            groups.setdefault(_root(parent, i), []).append(i)
    clusters = []
    for root, members in sorted(groups.items()):
        if len(members) < 2:
            continue
        golds = tuple(gold_key(rows[i][3]) for i in members)
        clusters.append(Cluster(tuple(members), golds, round(weakest[root], 4)))
    return clusters


def gold_key(gold) -> str:
    r"""The gold as compared inside a cluster: '$\dfrac{1}{2}$' -> '\frac{1}{2}'."""
    return normalize_answer(str(gold)) if gold is not None else ""


def keep_one(clusters: list[Cluster]) -> set[int]:
    """Row indices to drop: every member whose gold an earlier member of its cluster has."""
    dropped = set()
    for c in clusters:
        seen = set()
        for i, g in zip(c.members, c.golds, strict=True):
            if g in seen:
                dropped.add(i)
            seen.add(g)
    return dropped


def summary(clusters: list[Cluster], dropped: set[int]) -> dict:
    """The report.json block: clusters with equal golds and with different golds apart."""
    same = [c for c in clusters if not c.golds_differ]
    differ = [c for c in clusters if c.golds_differ]
    return {
        "clusters": len(clusters),
        "problems_in_clusters": sum(len(c.members) for c in clusters),
        "same_gold_clusters": len(same),
        "different_gold_clusters": len(differ),
        "dropped": len(dropped),
    }


# --- a rerun's shortcut ------------------------------------------------------------------------
# A resume reads the same problems again: the clusters of the last run are kept beside its
# output under a key of everything they depend on, and reused while the key matches (at 31k
# problems the LSH costs seconds and 170 MB that a resume need not spend).

CACHE_VERSION = 1


def cache_key(rows: Sequence[Row], threshold: float, shingle: int = DEFAULT_SHINGLE) -> str:
    """sha256 of the rows in order (clusters hold row indices) and every setting that shapes
    the clusters: cache_key([("a", 1, "Find x.", "3")], 0.8) -> "5f1c..." (64 hex digits)."""
    h = hashlib.sha256()
    h.update(json.dumps([CACHE_VERSION, threshold, shingle, NUM_PERM, LSH_WEIGHTS]).encode())
    for row in rows:
        h.update(json.dumps([str(x) for x in row], ensure_ascii=False).encode("utf-8") + b"\n")
    return h.hexdigest()


def save_clusters(path: Path, key: str, clusters: list[Cluster]) -> None:
    """Keep `clusters` under `key` for load_clusters() (atomically)."""
    found = [[list(c.members), list(c.golds), c.min_jaccard] for c in clusters]
    atomic_write_text(path, json.dumps({"key": key, "clusters": found}, ensure_ascii=False))


def load_clusters(path: Path, key: str) -> list[Cluster] | None:
    """The clusters kept under `key`, or None (none kept, another key, or unreadable)."""
    try:
        kept = json.loads(path.read_text(encoding="utf-8"))
        if kept.get("key") != key:
            return None
        return [Cluster(tuple(m), tuple(g), float(j)) for m, g, j in kept["clusters"]]
    except (OSError, ValueError, TypeError, KeyError, AttributeError):
        return None
