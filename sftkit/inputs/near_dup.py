r"""Near-duplicate problems in the input: MinHash LSH (datasketch) over word shingles.

Pipeline order: shingle sets -> MinHash -> MinHashLSH candidates -> exact Jaccard check ->
clusters (connected components) -> keep_one() / records().

Two problems are near duplicates when the Jaccard similarity of their sets of word 3-shingles
(three consecutive normalised words, as decontam.Tokenizer cuts them) is at least 0.8. LSH only
proposes candidate pairs; each pair is confirmed on the exact shingle sets, so a cluster never
holds a pair below the threshold that is not linked through other members. A problem shorter than
3 words has its whole text as its one shingle.

Inside a cluster, members whose golds differ (after the same normalisation) are reported apart:
either the numbers changed and these are different problems, or one gold is wrong. keep_one()
therefore drops only a member whose gold an earlier member of its cluster already has.

Usage:
    clusters = find_clusters([("algebra", 0, "Find x if 2x+1=7.", "3"), ...])
    dropped = keep_one(clusters)            # {row indices to leave out}
    lines = records(rows, clusters, dropped)  # <output>/near_duplicates.jsonl
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from datasketch import MinHash, MinHashLSH

from sftkit.inputs.decontam import Row, Tokenizer

DEFAULT_THRESHOLD = 0.8
DEFAULT_SHINGLE = 3
NUM_PERM = 128
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
        order = np.lexsort((h, text))
        h, text = h[order], text[order]
        bounds = np.searchsorted(text, np.arange(len(batch.counts) + 1))
        for i in range(len(batch.counts)):
            s = np.unique(h[bounds[i] : bounds[i + 1]])
            if not len(s) and batch.counts[i]:
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
    sets = _shingle_sets(rows, shingle)
    # The shingle hashes are already 64-bit: hand them to MinHash as they are.
    sketches = MinHash.generator(
        (s.tolist() for s in sets), num_perm=num_perm, hashfunc=int, scheme="affine64"
    )
    lsh = MinHashLSH(threshold=threshold, num_perm=num_perm)
    kept_sketches = []
    with lsh.insertion_session() as session:
        for i, m in enumerate(sketches):
            kept_sketches.append(m)
            if len(sets[i]):
                session.insert(i, m, check_duplication=False)
    parent = list(range(len(rows)))
    weakest: dict[int, float] = {}
    for i, m in enumerate(kept_sketches):
        if not len(sets[i]):
            continue
        for j in lsh.query(m):
            if j <= i:
                continue
            sim = _jaccard(sets[i], sets[j])
            if sim >= threshold:
                ri, rj = _root(parent, i), _root(parent, j)
                low = min(sim, weakest.get(ri, 1.0), weakest.get(rj, 1.0))
                parent[max(ri, rj)] = min(ri, rj)
                weakest[min(ri, rj)] = low
    groups: dict[int, list[int]] = {}
    for i in range(len(rows)):
        if parent[i] != i or i in weakest:
            groups.setdefault(_root(parent, i), []).append(i)
    tok = Tokenizer()
    clusters = []
    for root, members in sorted(groups.items()):
        if len(members) < 2:
            continue
        golds = tuple(gold_key(tok, rows[i][3]) for i in members)
        clusters.append(Cluster(tuple(members), golds, round(weakest[root], 4)))
    return clusters


def gold_key(tok: Tokenizer, gold) -> str:
    r"""The gold as compared inside a cluster: '$\dfrac{1}{2}$' -> '\frac 1 2'."""
    return " ".join(tok.words(str(gold))) if gold is not None else ""


def keep_one(clusters: list[Cluster]) -> set[int]:
    """Row indices to drop: every member whose gold an earlier member of its cluster has."""
    dropped = set()
    for c in clusters:
        seen = set()
        for i, g in zip(c.members, c.golds):
            if g in seen:
                dropped.add(i)
            seen.add(g)
    return dropped


def records(rows: Sequence[Row], clusters: list[Cluster], dropped: set[int]) -> list[dict]:
    """One line per cluster for <output>/near_duplicates.jsonl."""
    out = []
    for k, c in enumerate(clusters):
        members = [
            {
                "source": rows[i][0],
                "row": rows[i][1],
                "problem": rows[i][2],
                "gold": rows[i][3],
                "kept": i not in dropped,
            }
            for i in c.members
        ]
        out.append(
            {
                "cluster": k,
                "size": len(c.members),
                "golds_differ": c.golds_differ,
                "min_jaccard": c.min_jaccard,
                "members": members,
            }
        )
    return out


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
