r"""Grade SFT samples: extract the final \boxed{} answer and check it against the gold answer.

The command line over the grading library in sftkit/grading/, whose public calls it re-exports.
Pipeline order: extract_boxed_answer (extract.py) -> normalize_latex, normalize_answer
(normalize.py) -> check_answer (compare.py) -> grade, validate_item (grade.py). The decision is
layered so typical answers never reach SymPy: normalised string match -> exact rational/surd
arithmetic (sftkit.grading.numeric) -> SymPy behind size caps and a hard time limit
(sftkit.grading.symbolic). When in doubt, reject.

Reasons: no_box, empty_box, match_exact, match_numeric, match_symbolic, match_choice, mismatch,
timeout, unparseable.

Usage:
    python validate_sft_data.py sft_output/sample_math/subjectives --output_dir validation
    python validate_sft_data.py a.jsonl b.jsonl --output_dir out --keep_incorrect

    from validate_sft_data import check_answer, extract_boxed_answer
    check_answer(extract_boxed_answer(r"... \boxed{\dfrac{3}{2}}"), "1.5")   # True

Outputs in --output_dir: audit.jsonl (one verdict per input line), validated/<file> (correct
records with meta.verdict and meta.extracted_answer) and, with --keep_incorrect,
incorrect/<file>. The folder is rebuilt whole (built beside it, then swapped in), so no file of
an earlier run stays; every input path is checked first. Exit code 1 when any input line could
not be read (named as file:line), 2 when an input path does not exist or --output_dir holds files
this tool did not write (nothing is changed then).

Decontamination check of an existing dataset (nothing is graded then):
    python validate_sft_data.py sft_output/merged/sft_math_all_messages.jsonl \
        --decontaminate bench/math500.jsonl bench/aime24.jsonl --output_dir check
writes check/contamination.jsonl (file, line, problem, benchmark file and row, the shared
n-gram) and prints the count per benchmark file; exit 3 when any record is contaminated, 2 when a
benchmark file cannot be read, 1 when an input line cannot be read, else 0.
"""

from __future__ import annotations

from sftkit.common import startup

if __name__ == "__main__":  # a Ctrl-C while the imports below load: one line, exit 130
    startup.quiet_ctrl_c()

import argparse
import dataclasses
import sys
from dataclasses import dataclass
from pathlib import Path

from sftkit.common.flags import add_flags, flag, from_args
from sftkit.common.jsonl import InputError, atomic_write_jsonl, parse_lines
from sftkit.common.table import text_table
from sftkit.grading.boundary import REASONS as REASONS
from sftkit.grading.compare import check_answer as check_answer
from sftkit.grading.extract import extract_boxed_answer as extract_boxed_answer
from sftkit.grading.grade import Verdict as Verdict
from sftkit.grading.grade import grade as grade
from sftkit.grading.grade import validate_item as validate_item
from sftkit.grading.normalize import normalize_answer as normalize_answer
from sftkit.grading.normalize import normalize_latex as normalize_latex
from sftkit.grading.symbolic import warm_up as warm_up  # public here: workers warm the grader
from sftkit.inputs.benchmarks import load_benchmarks
from sftkit.inputs.decontam import DEFAULT_NGRAM
from sftkit.output import layout
from sftkit.output.decontam_check import check_records, format_counts
from sftkit.output.layout import CONTAMINATION_NAME
from sftkit.output.staging import check_target, staged_dir


@dataclass(frozen=True)
class Config:
    """The CLI's settings: each field is its flag or argument (sftkit.common.flags)."""

    inputs: tuple[Path, ...] = flag(
        (), "jsonl files or folders", name="inputs", nargs="+", type=Path
    )
    output_dir: Path = flag(
        Path("validation_output"),
        "folder for audit.jsonl, validated/ and incorrect/ (or contamination.jsonl), rebuilt "
        "whole on each run: an earlier run's files never stay beside the new ones; a folder "
        "holding other files is refused (%(default)s)",
        type=Path,
    )
    keep_incorrect: bool = flag(False, "also write incorrect/<file> records", action="store_true")
    decontaminate: tuple[Path, ...] = flag(
        (),
        "benchmark problem files (jsonl, json, parquet, csv, save_to_disk folder): check the "
        "inputs (a merged dataset, samples or problem files) against them instead of grading; "
        "writes <output_dir>/contamination.jsonl, exit 3 if any record is contaminated",
        nargs="+",
        type=Path,
        metavar="PATH",
    )
    decontam_ngram: int = flag(DEFAULT_NGRAM, "words in a row shared (%(default)s)", type=int)

    def __post_init__(self) -> None:
        object.__setattr__(self, "inputs", tuple(self.inputs))  # frozen: set once, here
        object.__setattr__(self, "decontaminate", tuple(self.decontaminate or ()))


@dataclass
class FileStats:
    name: str
    total: int = 0
    correct: int = 0
    no_box: int = 0

    @property
    def accuracy(self) -> float:
        return self.correct / self.total if self.total else 0.0


def parse_args(argv=None) -> Config:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    add_flags(parser, Config)
    return from_args(Config, parser.parse_args(argv))


OUTPUT_MARKER = ".validate_sft_data"  # written into --output_dir so later runs skip it


def collect_files(inputs) -> list[tuple[Path, Path]]:
    """(file, path relative to its input) for every sample file; below a given folder, the
    pipeline's logs (`<type>_verdicts.jsonl`, `failures.jsonl`), *_validated/, merged/ and our own
    output folders are skipped. A file named on the command line is always graded.
    ["out/"] -> [(out/a/multiples/0_0.jsonl, out/a/multiples/0_0.jsonl)]"""
    found = []
    for root in inputs:
        if root.is_dir():
            for path in sorted(root.rglob("*.jsonl")):
                rel = path.relative_to(root)
                skip = any(layout.is_output_dir(p) for p in rel.parts[:-1])
                dirs = [root.joinpath(*rel.parts[:i]) for i in range(len(rel.parts))]
                skip = skip or any((d / OUTPUT_MARKER).exists() for d in dirs[1:])
                skip = skip or layout.is_pipeline_log(path.name)
                if not skip and not path.name.startswith("."):
                    found.append((path, Path(root.name) / rel))
        else:
            found.append((root, Path(root.name)))
    return found


def grade_file(path: Path, rel: Path, config: Config, audit: list, errors: list) -> FileStats:
    stats = FileStats(str(path))
    good, bad = [], []
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        errors.append(f"{path}:0: cannot read: {exc}")
        return stats
    for lineno, record in parse_lines(path, lines):
        if isinstance(record, str):
            errors.append(record)
            continue
        verdict = validate_item(record)
        stats.total += 1
        stats.correct += verdict["is_correct"]
        stats.no_box += verdict["reason"] == "no_box"
        audit.append({"file": str(path), "line": lineno, **verdict})
        (good if verdict["is_correct"] else bad).append(layout.validated_record(record, verdict))
    if good:
        atomic_write_jsonl(config.output_dir / "validated" / rel, good)
    if bad and config.keep_incorrect:
        atomic_write_jsonl(config.output_dir / "incorrect" / rel, bad)
    return stats


def by_folder(rows: list[FileStats]) -> list[FileStats]:
    """One row per folder, in first-seen order: [out/a/0_0.jsonl, out/a/0_1.jsonl] -> [out/a]."""
    folders: dict[str, FileStats] = {}
    for row in rows:
        name = str(Path(row.name).parent)
        total = folders.setdefault(name, FileStats(name))
        total.total += row.total
        total.correct += row.correct
        total.no_box += row.no_box
    return list(folders.values())


def format_table(rows: list[FileStats]) -> str:
    """One line per folder and a total, as sftkit.common.table.text_table draws every table."""
    total = FileStats("TOTAL")
    for row in rows:
        total.total += row.total
        total.correct += row.correct
        total.no_box += row.no_box
    head = ("folder", "total", "correct", "no box", "accuracy")
    body = [(r.name, r.total, r.correct, r.no_box, f"{r.accuracy:.1%}") for r in [*rows, total]]
    return "\n".join(text_table(head, body[:-1], body[-1], names=1, min_widths=(6, 7, 7, 7, 8)))


def load_benchmark_index(config: Config):
    """--decontaminate's index and benchmark files; InputError for a bad benchmark file or
    --decontam_ngram, raised before --output_dir is touched."""
    if config.decontam_ngram < 1:
        raise InputError("--decontam_ngram: must be at least 1")
    return load_benchmarks(config.decontaminate, config.decontam_ngram)


def check_contamination(
    config: Config, files: list[Path], bench, errors: list[str], shown_dir: Path | None = None
) -> int:
    """--decontaminate: contamination.jsonl in --output_dir and counts per benchmark file
    (`bench`: load_benchmark_index()); exit 3 when any record is contaminated.
    `shown_dir`: the folder named in the output (config.output_dir may be a staging folder)."""
    index, benchmarks = bench
    hits, checked, bad = check_records(index, files)
    errors.extend(bad)
    config.output_dir.mkdir(parents=True, exist_ok=True)
    (config.output_dir / OUTPUT_MARKER).touch()
    atomic_write_jsonl(config.output_dir / CONTAMINATION_NAME, hits)
    print(format_counts(hits, checked, benchmarks, config.decontam_ngram))
    print(f"contamination: {(shown_dir or config.output_dir) / CONTAMINATION_NAME}")
    for message in errors:
        print(message, file=sys.stderr)
    return 3 if hits else 1 if errors else 0


def main(argv=None) -> int:
    startup.loaded()
    config = parse_args(argv)
    # Every path is checked before anything is touched: a typo must not empty the last audit.
    missing = [root for root in config.inputs if not root.exists()]
    try:
        if missing:
            raise InputError(f"{missing[0]}: no such file or folder (nothing was written)")
        check_target(config.output_dir, OUTPUT_MARKER)
        bench = load_benchmark_index(config) if config.decontaminate else None
    except InputError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    files = collect_files(config.inputs)
    with staged_dir(config.output_dir, OUTPUT_MARKER) as staging:
        staged = dataclasses.replace(config, output_dir=staging)
        if config.decontaminate:
            paths = [path for path, _ in files]
            return check_contamination(staged, paths, bench, [], config.output_dir)
        code = grade_all(staged, files)
    print(f"audit: {config.output_dir / 'audit.jsonl'}")
    return code


def grade_all(config: Config, files: list[tuple[Path, Path]]) -> int:
    """Grade every file into config.output_dir; print the table and any bad lines; exit code."""
    errors: list[str] = []
    audit: list[dict] = []
    rows = [grade_file(path, rel, config, audit, errors) for path, rel in files]
    atomic_write_jsonl(config.output_dir / "audit.jsonl", audit)
    print(format_table(by_folder(rows)))
    for message in errors:
        print(message, file=sys.stderr)
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
