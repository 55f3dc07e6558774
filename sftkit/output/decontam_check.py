r"""Check an existing dataset against benchmark files: `validate_sft_data.py --decontaminate`.

Pipeline order: record_problem() (one record -> the problem it asks) -> check_records() (every
line of the given files against one BenchIndex) -> format_counts().

A record is any line the tool reads or writes: a merged training record (`messages`, ShareGPT
`conversations`, `prompt`/`completion`), a stored sample, or a problem file's row (`problem`,
`question`). Its user turns are the text checked, with the bundled instruction sentences taken
out first: "Please reason step by step, and put your final answer within \boxed{}." is 12 words
that a benchmark file holding prompts may share with every record.

Usage:
    index, files = load_benchmarks(["bench/math500.jsonl"], n=8)
    hits, checked, errors = check_records(index, [Path("out/merged/sft_math_all_messages.jsonl")])
    hits[0]  # {"file": "out/merged/...", "line": 3, "problem": "...", "benchmark_file": ...}
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

from sftkit.common.jsonl import parse_lines
from sftkit.inputs.benchmarks import BenchFile
from sftkit.inputs.decontam import BenchIndex, find_contaminated

DATA_DIR = Path(__file__).resolve().parents[2] / "data"
USER_ROLES = ("user", "human")


def instruction_sentences(data_dir: Path = DATA_DIR) -> list[str]:
    """The bundled instruction sentences (data/sentences*.jsonl), longest first."""
    found = set()
    for path in sorted(data_dir.glob("sentences*.jsonl")):
        for line in path.read_text(encoding="utf-8").splitlines():
            try:
                sent = json.loads(line).get("sent")
            except (json.JSONDecodeError, AttributeError):
                continue
            if isinstance(sent, str) and sent.strip():
                found.add(sent.strip())
    return sorted(found, key=len, reverse=True)


def _turns(value) -> list[str]:
    """User texts of a message list: [{"role": "user", "content": "Q"}, ...] -> ["Q"]."""
    if isinstance(value, str):
        return [value]
    texts = []
    for turn in value if isinstance(value, list) else []:
        if not isinstance(turn, dict):
            continue
        role = turn.get("role", turn.get("from"))
        text = turn.get("content", turn.get("value"))
        if role in USER_ROLES and isinstance(text, str):
            texts.append(text)
    return texts


def record_problem(record: dict, sentences: list[str] = ()) -> str | None:
    """The problem a record asks, instruction sentences removed; None if it names none.

    {"messages": [{"role": "user", "content": "Solve it in \\boxed{}.\n\nFind x."}, ...]}
    -> "\n\nFind x." (with "Solve it in \\boxed{}." among `sentences`)
    """
    for key in ("messages", "conversations", "prompt", "problem", "question"):
        texts = _turns(record.get(key))
        if texts:
            text = "\n".join(texts)
            for sent in sentences:
                text = text.replace(sent, " ")
            return text
    return None


def _rows(paths: list[Path], sentences: list[str], errors: list[str], lines: dict) -> Iterator:
    for path in paths:
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            errors.append(f"{path}:0: cannot read: {exc}")
            continue
        for lineno, record in parse_lines(path, text.splitlines()):
            if isinstance(record, str):
                errors.append(record)
                continue
            problem = record_problem(record, sentences)
            if problem is None:
                errors.append(f"{path}:{lineno}: no user turn or problem field")
                continue
            lines[(str(path), lineno)] = problem
            yield str(path), lineno, problem, None


def check_records(
    index: BenchIndex, paths: list[Path], sentences: list[str] | None = None
) -> tuple[list[dict], int, list[str]]:
    """(contamination lines, records checked, unreadable lines as "file:line: why")."""
    errors: list[str] = []
    problems: dict[tuple[str, int], str] = {}
    sentences = instruction_sentences() if sentences is None else sentences
    hits = []
    for hit in find_contaminated(index, _rows(paths, sentences, errors, problems)):
        hits.append(
            {
                "file": hit.source,
                "line": hit.row,
                "problem": hit.problem.strip(),
                "benchmark_file": hit.benchmark_file,
                "benchmark_row": hit.benchmark_row,
                "ngram": hit.ngram,
            }
        )
    return hits, len(problems), errors


def format_counts(hits: list[dict], checked: int, files: list[BenchFile], n: int) -> str:
    """'contamination (8-grams): 2 of 40 records\n  bench/math500.jsonl (500 problems): 2'"""
    per_file = Counter(h["benchmark_file"] for h in hits)
    lines = [f"contamination ({n}-grams): {len(hits)} of {checked} records"]
    lines += [f"  {f.path} ({f.rows} problems): {per_file[f.path]}" for f in files]
    return "\n".join(lines)
