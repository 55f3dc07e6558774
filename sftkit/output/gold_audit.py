r"""Suspicious golds: problem versions whose graded samples agree on one answer that is not the gold.

A wrong gold makes every sample of its problem "wrong" and silently drops the problem from the
data. When at least `min_samples` samples, and at least `share` of the graded ones, give one
answer (equal by the grader, so `\frac12` and `0.5` are one answer) that the grader did not accept,
the gold is more likely wrong than the model. Nothing changes the gold: the report lists the
problem, the gold, the majority answer and its count for a person to look at.

Usage:
    from sftkit.output.gold_audit import audit_output
    for flag in audit_output("sft_output", min_samples=4, share=0.75):
        print(flag["source"], flag["type"], flag["problem_index"], flag["gold"], flag["majority_answer"])

Cost: verdict logs only (one sample file is opened per flagged version, for its problem id). A
version is skipped before any comparison when its correct samples already rule a qualifying
majority out. Otherwise answers are first grouped by their normal form (free), then distinct
forms by the grader, stopping as soon as no group can reach the threshold (with n = 8 and all
answers different, after four forms) and after at most MAX_COMPARISONS grader calls. The price
is a version whose samples are all wrong and all different: a few SymPy parses when they are
expressions (tens of ms), none when they are numbers.
"""

from __future__ import annotations

import math
import os
from collections import Counter
from collections.abc import Callable
from pathlib import Path

from sftkit.grading.compare import check_answer
from sftkit.grading.normalize import normalize_answer
from sftkit.output import layout

MIN_SAMPLES = 4
SHARE = 0.75
MAX_DISTINCT = 16  # distinct normal forms compared per problem version; rarer ones stay alone
MAX_COMPARISONS = 48  # grader calls per problem version


def _same(a: str, b: str) -> bool:
    # The grader decides equivalence, both ways round: the checker reads its second argument as
    # a gold, and gold-only readings (a ratio) must not make two samples equal one way only.
    return check_answer(a, b) and check_answer(b, a)


def majority(
    answers: list[str | None], need: int, same: Callable[[str, str], bool] = _same
) -> tuple[str, int] | None:
    """The largest group of grader-equal answers if it has at least `need` members, else None.

    (["\\frac12", "0.5", "1/2", "3"], 3) -> ("\\frac12", 3); None answers (no box) join no group.
    """
    spelled: dict[str, str] = {}  # normal form -> first spelling seen (what the report shows)
    counts: Counter = Counter()
    for a in answers:
        if isinstance(a, str) and a.strip():
            key = _normal(a)
            spelled.setdefault(key, a)
            counts[key] += 1
    if sum(counts.values()) < need:
        return None
    distinct = counts.most_common()
    groups: list[list] = []  # [representative, members]
    budget = MAX_COMPARISONS
    for i, (answer, n) in enumerate(distinct):
        joined = False
        for group in groups if i < MAX_DISTINCT else ():
            if budget <= 0:
                break  # out of comparisons: the answer stays a group of its own
            budget -= 1
            if same(answer, group[0]):
                group[1] += n
                joined = True
                break
        if not joined:
            groups.append([answer, n])
        # Stop once no other group can overtake the best with everything still unread, or once
        # no group can reach `need` any more (each unread answer joins one group at most).
        rest = sum(c for _, c in distinct[i + 1 :])
        sizes = sorted((g[1] for g in groups), reverse=True) + [0]
        if sizes[0] >= need and sizes[0] >= sizes[1] + rest:
            break
        if sizes[0] + rest < need:
            return None
    answer, count = max(groups, key=lambda g: g[1])
    return (spelled.get(answer, answer), count) if count >= need else None


def _normal(answer: str) -> str:
    # Spellings the normaliser already equates ("\dfrac{1}{2}", "\frac12") need no grader call.
    try:
        return normalize_answer(answer) or answer
    except Exception:  # noqa: BLE001 - the raw text is a fine key too
        return answer


def _needed(graded: int, min_samples: int, share: float) -> int:
    """Samples that must agree on one rejected answer: _needed(16, 4, 0.75) -> 12."""
    return max(min_samples, math.ceil(share * graded - 1e-9), 1)


def audit_version(
    verdicts: list[dict], min_samples: int = MIN_SAMPLES, share: float = SHARE
) -> tuple[str, int] | None:
    """(majority answer, count) when one problem version's graded samples agree on an answer the
    grader rejected; None otherwise. `verdicts` are its latest verdict lines."""
    graded = len(verdicts)
    need = _needed(graded, min_samples, share)
    correct = sum(v.get("is_correct") is True for v in verdicts)
    if graded - correct < need:
        return None  # too few rejected samples to hold such a majority: no grader call at all
    wrong = [v.get("extracted_answer") for v in verdicts if v.get("is_correct") is not True]
    return majority([a if isinstance(a, str) else None for a in wrong], need)


def _problem_id(folder: Path, name: str) -> str | None:
    try:
        meta = layout.read_sample(folder / name).get("meta")
    except (OSError, UnicodeDecodeError, ValueError):
        return None
    pid = meta.get("problem_id") if isinstance(meta, dict) else None
    return None if pid is None else str(pid)


def audit_type(
    src_dir: Path,
    source: str,
    type_: str,
    min_samples: int = MIN_SAMPLES,
    share: float = SHARE,
    known: dict | None = None,
) -> list[dict]:
    """Suspicious golds of one source x type, from `<type>_verdicts.jsonl` and the stored sample
    names (a verdict for a file that no longer exists does not count, as in the report).
    `known`: {"<type folder>": (VerdictIndex, sample files)} a caller has read already."""
    log = layout.verdict_log(src_dir / type_)
    # The report has read both already for its own figures: a million lines are parsed once.
    index, files = known.get(str(src_dir / type_)) if known else (None, None)
    if index is None:
        index, _ = layout.read_verdict_index(log)
    if not len(index):
        return []
    # Pass 1, compact: per problem, graded and correct among the stored files. Only a problem
    # with enough rejected samples to hold a majority can be flagged; pass 2 reads the answers
    # of those alone, so memory follows the candidates, not the log.
    if files is None:
        files, _ = layout.list_sample_files(src_dir / type_)
    tally: dict[int, list[int]] = {}
    for p, _, name in files:
        entry = index.get(name)
        if entry is not None:
            t = tally.setdefault(p, [0, 0])
            t[0] += 1
            t[1] += entry.correct
    candidates = {
        p
        for p, (graded, correct) in tally.items()
        if graded - correct >= _needed(graded, min_samples, share)
    }
    if not candidates:
        return []
    latest: dict[str, dict] = {}
    for _, line in layout.verdict_lines(log):
        if line is not None:
            name = line["file"].rsplit("/", 1)[-1]
            named = layout.parse_sample_name(name)
            if named and named[0] in candidates:
                latest[name] = line
    by_problem: dict[int, list[tuple[str, dict]]] = {}
    for p, _, name in files:
        verdict = latest.get(name) if p in candidates else None
        if verdict is not None:
            by_problem.setdefault(p, []).append((name, verdict))
    flagged = []
    for p, items in sorted(by_problem.items()):
        found = audit_version([v for _, v in items], min_samples, share)
        if found is None:
            continue
        answer, count = found
        flagged.append(
            {
                "source": source,
                "type": type_,
                "problem_index": p,
                "problem_id": _problem_id(src_dir / type_, items[0][0]),
                "gold": items[-1][1].get("ground_truth"),
                "majority_answer": answer,
                "majority_count": count,
                "graded": len(items),
                "correct": sum(v.get("is_correct") is True for _, v in items),
            }
        )
    return flagged


def audit_output(
    output_dir: str | os.PathLike,
    min_samples: int = MIN_SAMPLES,
    share: float = SHARE,
    known: dict | None = None,
) -> list[dict]:
    """audit_type over every source and type with a verdict log, in report order."""
    out = Path(output_dir)
    flagged = []
    for source in layout.list_sources(out):
        for type_ in layout.source_types(out / source, verdicts=True):
            flagged.extend(audit_type(out / source, source, type_, min_samples, share, known))
    return flagged
