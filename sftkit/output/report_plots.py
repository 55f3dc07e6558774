"""The HTML report's figures, drawn with matplotlib and returned as SVG text to inline.

Pipeline order: acceptance() -> pass_rates() -> token_lengths() -> reasons() (the page's order).

Usage:
    svg = acceptance([("src / multiples", 80, 7, 40, 5, 0)])   # "<svg ...>...</svg>"

Every figure's size depends on the number of sources x versions and reasons, never on the number
of samples: a million samples draw the same few kilobytes. Text stays text in the SVG
(svg.fonttype "none"), which keeps the files small and lets the browser pick a font for Korean
labels; ids are salted by a fixed string so the same data gives the same page.
"""

from __future__ import annotations

import io
import re

import matplotlib

matplotlib.use("Agg")  # no display: figures are only ever written as SVG text
import matplotlib.pyplot as plt  # noqa: E402

ACCEPTED, REJECTED, UNGRADED, FAILED = "#2e8b57", "#d0604d", "#b8b8b8", "#7a4fa0"
FILTERED = "#e0a030"  # correct, but dropped by the merge (filters, pass-rate band, duplicates)
_STYLE = {
    "svg.fonttype": "none",
    "svg.hashsalt": "sftkit-report",
    "font.size": 9,
    "font.family": ["DejaVu Sans", "Noto Sans CJK KR", "sans-serif"],
    "axes.spines.top": False,
    "axes.spines.right": False,
}
_HEAD = re.compile(r"^.*?(?=<svg)", re.S)  # XML declaration, DOCTYPE and comment before <svg
_METADATA = re.compile(r"\s*<metadata>.*?</metadata>", re.S)


def _svg(fig) -> str:
    """The figure as one inline <svg> element, scaled to its container's width."""
    buf = io.StringIO()
    fig.savefig(buf, format="svg", bbox_inches="tight", metadata={"Date": None})
    plt.close(fig)
    text = _HEAD.sub("", buf.getvalue(), count=1)
    text = _METADATA.sub("", text, count=1)  # RDF credits: bytes and a URL in an offline page
    # A fixed pixel size would overflow a narrow window; the viewBox keeps the proportions.
    return re.sub(
        r'<svg([^>]*?) width="[^"]*" height="[^"]*"', r'<svg\1 class="plot"', text, count=1
    )


def _figure(height: float, width: float = 8.0):
    """A new figure and axes (call inside plt.rc_context(_STYLE): the style applies at save too)."""
    return plt.subplots(figsize=(width, height))


def acceptance(rows: list[tuple[str, int, int, int, int, int]]) -> str:
    """Horizontal stacked bars, one per (label, merged, left out by the merge, rejected,
    ungraded, failed), with the grader's accepted share written at the end of each bar."""
    with plt.rc_context(_STYLE):
        fig, ax = _figure(0.9 + 0.32 * max(1, len(rows)))
        labels = [r[0] for r in rows][::-1]
        left = [0] * len(rows)
        parts = (("merged", ACCEPTED), ("correct, left out by the merge", FILTERED),
                 ("rejected", REJECTED), ("ungraded", UNGRADED), ("failed", FAILED))  # fmt: skip
        for i, (name, color) in enumerate(parts):
            values = [r[i + 1] for r in rows][::-1]
            ax.barh(labels, values, left=left, color=color, label=name, height=0.7)
            left = [a + b for a, b in zip(left, values, strict=True)]
        for y, (row, total) in enumerate(zip(rows[::-1], left, strict=True)):
            correct, graded = row[1] + row[2], row[1] + row[2] + row[3]
            share = f"{100 * correct / graded:.1f}%" if graded else "-"
            ax.text(total, y, f"  {share} of {graded:,} graded correct", va="center", fontsize=8)
        ax.set_xlim(0, max(left + [1]) * 1.35)
        ax.set_xlabel("samples")
        # Below the axis: inside, it would hide the end of a bar.
        ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.5 / len(labels) ** 0.5 - 0.1),
                  ncols=5, fontsize=8, frameon=False)  # fmt: skip
        return _svg(fig)


def pass_rates(buckets: list[str], series: dict[str, list[int]]) -> str:
    """Problem versions per pass-rate bucket, stacked by series (source / version)."""
    with plt.rc_context(_STYLE):
        fig, ax = _figure(3.0)
        bottom = [0] * len(buckets)
        colors = plt.get_cmap("tab10")
        for i, (name, counts) in enumerate(series.items()):
            ax.bar(buckets, counts, bottom=bottom, label=name, color=colors(i % 10))
            bottom = [a + b for a, b in zip(bottom, counts, strict=True)]
        ax.set_xlabel("pass rate (correct / graded) of a problem version")
        ax.set_ylabel("problem versions")
        ax.tick_params(axis="x", labelrotation=45)
        if 1 < len(series) <= 12:
            ax.legend(fontsize=8, frameon=False)
        return _svg(fig)


def _tokens(value: int) -> str:
    """Tick label: 724 -> "724", 2048 -> "2k", 11585 -> "11.6k"."""
    if value < 1000:
        return str(value)
    k = value / 1024
    return f"{k:.0f}k" if k == int(k) else f"{k:.1f}k"


def token_lengths(edges: list[int], accepted: list[int], rejected: list[int]) -> str:
    """Completion tokens of accepted and rejected samples as two step histograms over the
    report's half-octave bins (equal widths on a log scale); empty bins at the ends are cut."""
    used = [i for i, (a, r) in enumerate(zip(accepted, rejected, strict=True)) if a or r]
    lo, hi = (used[0], used[-1] + 1) if used else (0, 1)
    with plt.rc_context(_STYLE):
        fig, ax = _figure(2.8)
        xs = list(range(lo, hi + 1))
        for name, counts, color in (
            ("accepted", accepted, ACCEPTED),
            ("rejected", rejected, REJECTED),
        ):
            ax.stairs(counts[lo:hi], xs, label=f"{name} ({sum(counts):,})", color=color, lw=2)
        ticks = [x for x in xs if x < len(edges)]
        labels = [_tokens(edges[x]) for x in ticks]
        ax.set_xticks(ticks, labels, rotation=45 if len(ticks) > 12 else 0)
        ax.set_xlabel("completion tokens (bins of half an octave; last bin open-ended)")
        ax.set_ylabel("samples")
        ax.legend(fontsize=8, frameon=False)
        return _svg(fig)


def reasons(counts: list[tuple[str, int, bool]], title: str = "samples") -> str:
    """Horizontal bars of why samples went, one per (reason, count, accepting): accepting
    reasons green, the rest red; the count written at each bar's end."""
    with plt.rc_context(_STYLE):
        fig, ax = _figure(0.8 + 0.28 * max(1, len(counts)))
        labels = [c[0] for c in counts][::-1]
        values = [c[1] for c in counts][::-1]
        colors = [ACCEPTED if c[2] else REJECTED for c in counts][::-1]
        ax.barh(labels, values, color=colors, height=0.7)
        for y, v in enumerate(values):
            ax.text(v, y, f"  {v:,}", va="center", fontsize=8)
        ax.set_xlim(0, max(values + [1]) * 1.2)
        ax.set_xlabel(title)
        return _svg(fig)
