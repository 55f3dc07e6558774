"""`merged/README.md`: a Hugging Face dataset card for the merged files, so uploading the folder
gives a working dataset page (a viewer per config, the figures, how to rebuild and load it).

Pipeline order: write_card() -> configs() -> languages() -> _body().

Usage:
    stats = merge_outputs("sft_output", "messages")
    write_card("sft_output", write_report("sft_output"), stats)   # sft_output/merged/README.md
    datasets.load_dataset("sft_output/merged", "all", split="train")   # reads the card's configs

The YAML header has one config per source of the merge's format, `all` (every source) being the
default, on the parquet files when --export parquet wrote them (`datasets` reads all configs of a
folder with one builder, so they cannot mix JSONL and parquet), else on the JSONL; plus `language`
(scripts of the merged problems), `task_categories` and `size_categories` (from the merged record
count). A parquet file older than its JSONL (an earlier merge's export) is left out.
"""

from __future__ import annotations

import json
import os
import re
import time
from collections import Counter
from itertools import islice
from pathlib import Path

import yaml

from sftkit.common.jsonl import atomic_write_text
from sftkit.output import commands, layout
from sftkit.output.drops import drops
from sftkit.output.export import parquet_path
from sftkit.output.formats import parse
from sftkit.output.merge import MergeStats

LANGUAGE_SAMPLE = 200  # records read per merged source file to tell its problems' language
LANGUAGE_SHARE = 0.05  # a language is listed when it is the main one of this share of problems
_SCRIPTS = (
    ("ko", re.compile(r"[\uac00-\ud7a3\u1100-\u11ff\u3130-\u318f]")),
    ("ja", re.compile(r"[\u3040-\u30ff]")),
    ("zh", re.compile(r"[\u4e00-\u9fff]")),
    ("ru", re.compile(r"[\u0400-\u04ff]")),
)
# English words: three or more Latin letters not right after a backslash (\frac is not a word).
_WORD = re.compile(r"(?<![\\A-Za-z])[A-Za-z]{3,}")
_SIZES = ((1_000, "n<1K"), (10_000, "1K<n<10K"), (100_000, "10K<n<100K"),
          (1_000_000, "100K<n<1M"), (10_000_000, "1M<n<10M"))  # fmt: skip


def size_category(records: int) -> str:
    """The Hub's size bucket: 999 -> "n<1K", 1000 -> "1K<n<10K"."""
    return next((name for limit, name in _SIZES if records < limit), "n>10M")


def main_language(text: str) -> str | None:
    """The language whose script has the most letters: "함수 f(x)의 최댓값은?" -> "ko",
    "Find the maximum of f(x)." -> "en"; Han characters beside Hangul count as Korean."""
    # A syllable or ideogram carries about as much as a three-letter English word.
    counts = Counter({lang: 3 * len(rx.findall(text)) for lang, rx in _SCRIPTS})
    if counts["ko"] or counts["ja"]:
        counts[("ko" if counts["ko"] >= counts["ja"] else "ja")] += counts.pop("zh")
    counts["en"] = sum(len(w) for w in _WORD.findall(text))
    lang, n = counts.most_common(1)[0]
    return lang if n else None


def languages(files: list[Path]) -> list[str]:
    """Languages of the problems in the first LANGUAGE_SAMPLE records of each file."""
    mains: Counter = Counter()
    for path in files:
        try:
            with open(path, encoding="utf-8") as fh:
                for line in islice(fh, LANGUAGE_SAMPLE):
                    conv = parse(json.loads(line))
                    lang = main_language(conv.prompt) if conv and conv.prompt else None
                    mains[lang] += lang is not None
        except (OSError, UnicodeDecodeError, ValueError):
            continue  # the language is a hint on the page; a bad file is the merge's to report
    total = sum(mains.values())
    langs = sorted(k for k, n in mains.items() if k and n >= LANGUAGE_SHARE * total)
    return langs or ["en"]


def configs(stats: MergeStats) -> list[dict]:
    """One config per merged source file plus "all" (the default). `datasets` reads every config
    of a repo with one builder, so they point at parquet when --export parquet wrote a fresh copy
    of each file, else at the JSONL."""
    out = []
    for path in (Path(p) for p in stats.outputs if p.endswith(".jsonl")):
        name = path.name.removesuffix(f"_{stats.fmt}.jsonl")
        name = "all" if name == layout.ALL_NAME else name
        records = stats.written if name == "all" else stats.by_source.get(name, 0)
        if records:  # the Hub cannot show a config without rows
            out.append({"name": name, "file": path.name, "records": records,
                        "parquet": fresh_parquet(path)})  # fmt: skip
    if out and all(c["parquet"] for c in out):
        for c in out:
            c["file"] = c["parquet"]
    return out


def fresh_parquet(jsonl: Path) -> str | None:
    """The name of the parquet copy of `jsonl` if it is not older than it, else None (an earlier
    merge's export holds other records)."""
    pq = parquet_path(jsonl)
    if pq.is_file() and pq.stat().st_mtime_ns >= jsonl.stat().st_mtime_ns:
        return pq.name
    return None


def _header(found: list[dict], langs: list[str], records: int) -> str:
    meta = {
        "configs": [
            {
                "config_name": c["name"],
                "data_files": [{"split": "train", "path": c["file"]}],
                **({"default": True} if c["name"] == "all" else {}),
            }
            for c in found
        ],  # fmt: skip
        "language": langs,
        "task_categories": ["text-generation", "question-answering"],
        "tags": ["math", "sft", "reasoning", "synthetic", "verified"],
        "size_categories": [size_category(records)],
        "pretty_name": "Verified math SFT samples",
    }
    return "---\n" + yaml.safe_dump(meta, sort_keys=False, allow_unicode=True) + "---\n"


def _md_table(head: tuple, rows: list[tuple]) -> list[str]:
    def cell(v) -> str:
        text = f"{v:,}" if isinstance(v, int) and not isinstance(v, bool) else str(v)
        return text.replace("|", "\\|").replace("\n", " ")

    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    return lines + ["| " + " | ".join(cell(v) for v in r) + " |" for r in rows]


def _body(out: Path, report: dict, stats: MergeStats, found: list[dict], reasons: Counter) -> str:
    t = report.get("totals") or {}
    lines = [
        "# Verified math SFT samples",
        "",
        f"Solutions generated by a model for math problems with gold answers and kept only when "
        f"graded correct (sftkit: `generate_sft_data.py` + `validate_watcher.py`). Format "
        f"`{stats.fmt}`, reasoning `{stats.reasoning_mode}`; merged "
        f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}.",
        "",
        "## Files",
        "",
        *_md_table(
            ("config", "records", "JSONL (LLaMA-Factory: dataset_info.json)", "parquet"),
            [
                (
                    c["name"],
                    c["records"],
                    f"`{c['file'].removesuffix('.parquet')}.jsonl`"
                    if c["parquet"]
                    else f"`{c['file']}`",
                    f"`{c['parquet']}`" if c["parquet"] else "-",
                )
                for c in found
            ],
        ),  # fmt: skip
        "",
        "## Load it",
        "",
        "```python",
        "from datasets import load_dataset",
        "",
    ]
    if found:
        first = found[0]
        jsonl = Path(first["file"]).with_suffix(".jsonl").name
        lines += [
            "# this folder by config name (once uploaded: the Hub repo id instead of the path)",
            f'ds = load_dataset("{out / layout.MERGED_DIR}", "{first["name"]}", split="train")',
            "# one file (paths relative to this folder)",
            f'ds = load_dataset("json", data_files="{jsonl}", split="train")',
        ]
        if first["parquet"]:
            pq = first["parquet"]
            lines.append(f'ds = load_dataset("parquet", data_files="{pq}", split="train")')
    lines += ["```", "", "## Run signature", ""]
    sigs = report.get("signatures") or []
    keys = sorted({k for s in sigs for k in s}, key=lambda k: (k != "model", k))
    if sigs:
        lines += _md_table(tuple(keys), [tuple(s.get(k, "") for k in keys) for s in sigs])
        if report.get("mixed"):
            lines += ["", "**Mixed folder:** samples of more than one model or sampling."]
    else:
        lines.append("No run_signature.json in the output folder.")
    lines += ["", "## Figures", ""]
    lines += _md_table(
        ("source", "version", "samples", "graded", "correct", "accuracy"),
        [(r["source"], r["type"], r["samples"], r["graded"], r["correct"],
          f"{100 * r['correct'] / r['graded']:.1f}%" if r["graded"] else "-")
         for r in report.get("rows") or []],
    )  # fmt: skip
    lines += [
        "",
        f"Samples {t.get('samples', 0):,}, graded {t.get('graded', 0):,}, correct "
        f"{t.get('correct', 0):,}, merged {stats.written:,}.",
        "",
        "Dropped, by reason (samples; problems for contamination and near-duplicates):",
        "",
    ]
    dropped = [("grader", r, n) for r, n in reasons.most_common()]
    for group, counts in drops(report, stats.duplicates).items():
        dropped += [(group, r, n) for r, n in counts.most_common()]
    lines += _md_table(("stage", "reason", "count"), dropped) if dropped else ["(none)"]
    lines += [
        "",
        "## Rebuild",
        "",
        "The commands that wrote this data, in pipeline order (a launcher line runs the steps after it):",
        "",
        "```sh",
    ]
    ran = commands.latest(out)
    lines += [f"cd {c.get('cwd', '.')} && {c['command']}" for c in ran] or ["# not recorded"]
    lines += ["```", "", "`report.html` in the output folder shows the figures and samples.", ""]
    return "\n".join(lines)


def write_card(
    output_dir: str | os.PathLike, report: dict, stats: MergeStats, reasons: Counter | None = None
) -> Path:
    """Write merged/README.md for this merge (`reasons`: rejected samples per grader reason)."""
    out = Path(output_dir)
    found = configs(stats)
    merged = out / layout.MERGED_DIR
    langs = languages([merged / Path(c["file"]).with_suffix(".jsonl").name for c in found])
    text = (
        _header(found, langs, stats.written)
        + "\n"
        + _body(out, report, stats, found, reasons or Counter())
    )
    path = layout.dataset_card_file(out)
    atomic_write_text(path, text)
    return path
