r"""Decontamination and near-duplicate speed on synthetic problems (no benchmark text ships here).

Decontamination: builds 5,000 benchmark problems and 1,000,000 input problems from a made-up
lexicon (Zipf-distributed words, numbers, LaTeX fragments, 15-120 words each); 1% of the inputs
are benchmark problems copied with one number changed and reflowed LaTeX spacing. The inputs are
generated lazily and streamed through find_contaminated(), as the generator would read them.
Prints the time to generate alone, the time with decontamination, the index size, the peak RSS of
the process, and how many planted copies were found (it must be all of them).

Near duplicates: 100,000 input problems, every 80th the first of a cluster of 2-4 copies with
one word replaced by a number; prints the time of find_clusters(), the clusters found, and how
many of the planted pairs that are near duplicates by definition (exact Jaccard >= 0.8 on word
2-shingles) ended in one cluster.

Targets on the team's 2-core machine: decontamination <= 2 min and <= 1 GB RSS; near-dup <= 60 s.

Usage:
    python bench/bench_decontam.py
    python bench/bench_decontam.py --inputs 200000 --bench 5000 --near_dup 100000 --seed 3
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sftkit.inputs.decontam import build_index, find_contaminated  # noqa: E402
from sftkit.inputs.near_dup import (  # noqa: E402
    DEFAULT_SHINGLE,
    DEFAULT_THRESHOLD,
    _jaccard,
    _shingle_sets,
    find_clusters,
)

LATEX = [
    r"$x^{2}+3x$",
    r"$\dfrac{a}{b}$",
    r"$\sqrt{n}$",
    r"$f(x)$",
    r"$\left(1+\frac{1}{k}\right)$",
    r"$a_n$",
    r"$\sum_{i=1}^{n} i$",
    r"$\triangle ABC$",
]


class Corpus:
    """Synthetic problems: Zipf words from a 30,000-word lexicon, numbers and formulas."""

    def __init__(self, seed: int) -> None:
        self.rng = np.random.default_rng(seed)
        letters = np.array(list("abcdefghijklmnopqrstuvwxyz"))
        lengths = self.rng.integers(2, 10, size=30_000)
        self.lexicon = ["".join(self.rng.choice(letters, size=k)) for k in lengths]
        self.lexicon += [str(i) for i in range(1000)] + LATEX
        ranks = np.arange(1, len(self.lexicon) + 1)
        weights = 1.0 / ranks**1.05
        self.p = weights / weights.sum()
        self.rng.shuffle(self.lexicon)  # numbers and formulas anywhere in the ranking

    def problems(self, count: int, block: int = 10_000):
        """Yield `count` problems, drawn `block` at a time."""
        lexicon = self.lexicon
        for start in range(0, count, block):
            k = min(block, count - start)
            lengths = self.rng.integers(15, 121, size=k)
            words = self.rng.choice(len(lexicon), size=int(lengths.sum()), p=self.p).tolist()
            pos = 0
            for n in lengths.tolist():
                yield " ".join([lexicon[i] for i in words[pos : pos + n]]) + "?"
                pos += n


def planted_copy(text: str, rng: np.random.Generator) -> str:
    """One number changed (or appended) and the spacing reflowed, as a leaked copy looks."""
    words = text.split()
    numbers = [i for i, w in enumerate(words) if w.isdigit()]
    if numbers:
        i = numbers[int(rng.integers(len(numbers)))]
        words[i] = str(int(words[i]) + 1)
    else:
        words.append("7")
    return "  ".join(words).replace("$", " $ ")


def rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def bench_decontam(args) -> None:
    corpus = Corpus(args.seed)
    bench = list(corpus.problems(args.bench))
    t0 = time.perf_counter()
    index = build_index(((f"bench{i % 5}.jsonl", i, t, None) for i, t in enumerate(bench)))
    t_index = time.perf_counter() - t0

    plant_every = 100
    rng = np.random.default_rng(args.seed + 1)

    def rows():
        for i, text in enumerate(Corpus(args.seed + 2).problems(args.inputs)):
            if i % plant_every == 0:
                text = planted_copy(bench[int(rng.integers(len(bench)))], rng)
            yield ("synthetic", i, text, None)

    t0, c0 = time.perf_counter(), time.process_time()
    words = sum(len(r[2].split()) for r in rows())
    t_gen, c_gen = time.perf_counter() - t0, time.process_time() - c0
    rng = np.random.default_rng(args.seed + 1)
    t0, c0 = time.perf_counter(), time.process_time()
    hits = list(find_contaminated(index, rows()))
    t_total, c_total = time.perf_counter() - t0, time.process_time() - c0
    planted = len(range(0, args.inputs, plant_every))
    found_planted = sum(1 for h in hits if h.row % plant_every == 0)
    print(
        f"decontam: {args.inputs:,} inputs ({words:,} words) vs {args.bench:,} benchmark problems"
        f" (n=8): index {index.ngrams:,} n-grams, {index.nbytes / 1e6:.1f} MB,"
        f" built in {t_index:.2f} s"
    )
    wall = t_total - t_gen
    print(
        f"decontam: generate only {t_gen:.1f} s; generate + decontaminate {t_total:.1f} s"
        f" -> decontamination {wall:.1f} s wall, {c_total - c_gen:.1f} s CPU"
        f" ({args.inputs / max(wall, 1e-9):,.0f} problems/s)"
    )
    rss = rss_mb()
    print(
        f"decontam: {len(hits):,} contaminated, {found_planted:,}/{planted:,} planted copies found,"
        f" {len(hits) - found_planted:,} other; peak RSS {rss:.0f} MB"
    )
    print(
        f"decontam: target <= 120 s and <= 1,024 MB for 1M inputs: {wall:.1f} s, {rss:.0f} MB"
        f" (load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores)"
    )


def bench_near_dup(args) -> None:
    corpus = Corpus(args.seed + 3)
    rng = np.random.default_rng(args.seed + 4)
    texts = list(corpus.problems(args.near_dup))
    planted = []  # (first member, size)
    for i in range(0, len(texts) - 4, 80):  # every 80th problem starts a cluster of 2-4
        size = int(rng.integers(2, 5))
        for j in range(1, size):
            words = texts[i].split()
            k = int(rng.integers(len(words)))
            words[k] = str(int(rng.integers(1000)))
            texts[i + j] = " ".join(words)
        planted.append((i, size))
    rows = [("synthetic", i, t, str(i % 3)) for i, t in enumerate(texts)]
    t0, c0 = time.perf_counter(), time.process_time()
    clusters = find_clusters(rows)
    dt, cpu = time.perf_counter() - t0, time.process_time() - c0
    # Recall on the planted pairs that are near duplicates by the definition (exact Jaccard).
    sets = _shingle_sets(rows, DEFAULT_SHINGLE)
    cluster_of = {m: k for k, c in enumerate(clusters) for m in c.members}
    due = found = 0
    for first, size in planted:
        for j in range(first + 1, first + size):
            if _jaccard(sets[first], sets[j]) >= DEFAULT_THRESHOLD:
                due += 1
                found += cluster_of.get(j, -1) == cluster_of.get(first, -2)
    print(
        f"near_dup: {len(rows):,} problems in {dt:.1f} s wall, {cpu:.1f} s CPU"
        f" ({len(rows) / dt:,.0f} problems/s):"
        f" {len(clusters):,} clusters ({len(planted):,} planted),"
        f" {sum(c.golds_differ for c in clusters):,} with different golds;"
        f" planted pairs at Jaccard >= {DEFAULT_THRESHOLD}: {found:,}/{due:,} found;"
        f" peak RSS {rss_mb():.0f} MB"
    )
    print(
        f"near_dup: target <= 60 s for 100k problems: {dt:.1f} s"
        f" (load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores)"
    )


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--inputs", type=int, default=1_000_000, help="input problems")
    parser.add_argument("--bench", type=int, default=5_000, help="benchmark problems")
    parser.add_argument("--near_dup", type=int, default=100_000, help="problems for near-dup")
    parser.add_argument("--seed", type=int, default=0)
    return parser.parse_args()


def main() -> None:
    sys.stdout.reconfigure(line_buffering=True)
    args = parse_args()
    bench_decontam(args)
    bench_near_dup(args)


if __name__ == "__main__":
    main()
