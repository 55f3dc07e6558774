"""merged/README.md (the Hugging Face dataset card) and --export parquet: the card's YAML parses,
every config it declares loads with `datasets` (as the Hub would load the uploaded folder), and
the parquet files hold exactly the merged records."""

from __future__ import annotations

import json
import os

import pytest
import yaml

from sftkit.common.jsonl import append_jsonl
from sftkit.output import commands, layout
from sftkit.output.card import main_language, size_category
from sftkit.output.export import export_parquet
from sftkit.output.finish import merge_and_report
from sftkit.output.merge import merge_outputs

SUBJ, MULT = "subjectives", "multiples"


@pytest.fixture
def out(tmp_path, sample_writer):
    """ko_set: Korean problems, 3 correct + 1 wrong; en_set: English problems, 2 correct, one of
    them with an extra meta key (the parquet schema must take it)."""
    w = sample_writer
    for p in range(3):
        w(tmp_path, "ko_set", SUBJ, p, 0, prompt=f"함수 f(x)의 최댓값을 구하시오. ({p})", answer=p)
    w(tmp_path, "ko_set", MULT, 0, 0, correct=False, prompt="다음 중 옳은 것은?")
    w(tmp_path, "en_set", SUBJ, 0, 0, prompt="Find the value of x if 2x = 6.", answer=3)
    w(tmp_path, "en_set", SUBJ, 1, 0, prompt="How many primes are below 10?", answer=4)
    commands.record(tmp_path, "generate", ["generate_sft_data.py", "--n", "1"])
    commands.record(tmp_path, "merge", ["generate_sft_data.py", "--merge_only"])
    return tmp_path


def card_header(out) -> tuple[dict, str]:
    text = layout.dataset_card_file(out).read_text(encoding="utf-8")
    assert text.startswith("---\n")
    head, _, body = text[4:].partition("\n---\n")
    return yaml.safe_load(head), body


@pytest.mark.e2e
def test_card_yaml_configs_load_with_datasets(out, load_dataset):
    assert merge_and_report(str(out), "messages", "think_tags", None, export_formats=("parquet",))
    meta, body = card_header(out)
    names = [c["config_name"] for c in meta["configs"]]
    assert names == ["all", "en_set", "ko_set"]
    files = [c["data_files"][0]["path"] for c in meta["configs"]]
    assert files == [f"{n}_messages.parquet" for n in ("sft_math_all", "en_set", "ko_set")]
    assert [c.get("default") for c in meta["configs"]].count(True) == 1
    assert meta["language"] == ["en", "ko"]
    assert meta["size_categories"] == ["n<1K"]
    assert "text-generation" in meta["task_categories"]
    merged = layout.merged_dir(out)
    expected = {"all": 5, "en_set": 2, "ko_set": 3}
    for config in meta["configs"]:
        # As the Hub loads an uploaded folder: the card's configs, by name.
        ds = load_dataset(str(merged), config["config_name"], split="train")
        assert len(ds) == expected[config["config_name"]], config
        assert "messages" in ds.column_names
    # The figures, the signature and the commands that rebuild it.
    assert "| ko_set | multiples | 1 | 1 | 0 | 0.0% |" in body
    assert "| grader | mismatch | 1 |" in body
    assert "merged 5." in body
    assert "generate_sft_data.py --n 1" in body and "generate_sft_data.py --merge_only" in body
    assert "No run_signature.json" in body
    assert f'load_dataset("{merged}", "all", split="train")' in body


def test_parquet_export_holds_the_merged_records(out, load_dataset):
    stats = merge_outputs(out, "sharegpt", "think_tags")
    written = export_parquet(stats.outputs)
    assert [p.name for p in written] == [
        "sft_math_all_sharegpt.parquet", "en_set_sharegpt.parquet", "ko_set_sharegpt.parquet"
    ]  # fmt: skip
    src = layout.merged_file(out, layout.ALL_NAME, "sharegpt")
    rows = [json.loads(line) for line in src.read_text(encoding="utf-8").splitlines()]
    ds = load_dataset("parquet", data_files=str(written[0]), split="train")
    assert len(ds) == len(rows) == 5
    assert ds[0]["conversations"] == rows[0]["conversations"]
    assert [r["meta"]["generation_id"] for r in ds] == [r["meta"]["generation_id"] for r in rows]


def test_parquet_export_stores_a_column_of_mixed_shapes_as_json_text(tmp_path, load_dataset):
    src = tmp_path / "x_messages.jsonl"
    src.write_text('{"a": 1, "b": {"k": 1}}\n{"a": 2, "b": 7}\n', encoding="utf-8")
    (path,) = export_parquet([src])
    ds = load_dataset("parquet", data_files=str(path), split="train")
    assert ds["a"] == [1, 2] and ds["b"] == ['{"k": 1}', "7"]


@pytest.mark.e2e
def test_stale_parquet_is_left_out_of_the_card(out, load_dataset):
    assert merge_and_report(str(out), "messages", "think_tags", None, export_formats=("parquet",))
    pq = layout.merged_dir(out) / "sft_math_all_messages.parquet"
    os.utime(pq, ns=(1, 1))  # older than the JSONL the next merge writes
    assert merge_and_report(str(out), "messages", "think_tags", None)
    meta, _ = card_header(out)
    files = [c["data_files"][0]["path"] for c in meta["configs"]]
    assert files == [f"{n}_messages.jsonl" for n in ("sft_math_all", "en_set", "ko_set")]
    # The stale parquet beside them does not confuse datasets: the configs decide.
    assert len(load_dataset(str(layout.merged_dir(out)), "all", split="train")) == 5


@pytest.mark.e2e
def test_card_of_an_empty_merge_parses(tmp_path, sample_writer):
    sample_writer(tmp_path, "s", SUBJ, 0, 0, correct=False)
    append_jsonl(layout.failures_file(tmp_path, "s"), {"generation_id": "s/subjectives/1_0"})
    assert merge_and_report(str(tmp_path), "messages", "think_tags", None)
    meta, body = card_header(tmp_path)
    assert meta["configs"] == [] and "merged 0." in body


@pytest.mark.parametrize(
    "text, expected",
    [
        ("함수 f(x)=x^2의 최댓값을 구하시오. Please reason step by step.", "ko"),
        ("Find the value of x. (답)", "en"),
        ("Find \\frac{1}{2} + \\sqrt{x} when x = 4.", "en"),
        ("\\frac{1}{2} + 3 = ?", None),  # LaTeX commands are not English words
    ],
)
def test_main_language(text, expected):
    assert main_language(text) == expected


@pytest.mark.parametrize(
    "records, expected",
    [(0, "n<1K"), (999, "n<1K"), (1000, "1K<n<10K"), (999_999, "100K<n<1M"), (10**7, "n>10M")],
)
def test_size_category(records, expected):
    assert size_category(records) == expected
