r"""Training on the output, default tier: the merged files go through the trainers' own data code
(`datasets.load_dataset("json")` and a `transformers` tokenizer's chat template, no torch, no hub:
a tiny BPE tokenizer is built in conftest.py), and the demo's reasoning reaches them balanced.

The opt-in tier that runs TRL itself is tests/test_trainers.py (`pytest -m trainers`).
"""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path

import pytest

import generate_sft_data as gen
import validate_watcher
from sftkit.demo.mock_server import MockConfig, config_from_args
from sftkit.demo.mock_server import parse_args as mock_parse_args
from sftkit.output.formats import FORMATS, THINK_CLOSE, THINK_OPEN
from sftkit.output.merge import merge_outputs
from sftkit.output.report import build_report, format_report

ROOT = Path(__file__).resolve().parents[1]
SUBJ, MULT = "subjectives", "multiples"
IM_END = "<|im_end|>\n"


def build_tree(out, write) -> dict[str, bool]:
    """Validated samples with and without reasoning, stored in several formats; returns
    generation_id -> has reasoning."""
    has = {}
    for p, (fmt, reasoning) in enumerate(
        [
            ("messages", "x = 3 이므로"),
            ("sharegpt", None),
            ("prompt_completion", "try 2, then 3"),
            ("alpaca", None),
            ("simple", "<think>nested</think> tags"),
        ]
    ):
        write(out, "src_math", SUBJ, p, 0, fmt=fmt, reasoning=reasoning, answer=p + 1)
        has[f"src_math/{SUBJ}/{p}_0"] = reasoning is not None
    write(out, "src_math", MULT, 0, 0, fmt="messages", mode="field", reasoning="r", answer=2)
    has[f"src_math/{MULT}/0_0"] = True
    return has


def rows(out: Path, fmt: str, load_dataset) -> list[dict]:
    path = out / "merged" / f"sft_math_all_{fmt}.jsonl"
    return list(load_dataset("json", data_files=str(path), split="train"))


def generation_id(row: dict) -> str:
    return row["generation_id"] if "generation_id" in row else row["meta"]["generation_id"]


def as_conversation(row: dict, fmt: str) -> list[dict]:
    """The role/content turns a trainer builds from one loaded row, with the recipe the README gives
    for that format (sharegpt: axolotl's message_property_mappings and roles; alpaca and simple:
    LLaMA-Factory's alpaca columns from our dataset_info.json)."""
    if fmt == "messages":
        return row["messages"]
    if fmt == "prompt_completion":
        return row["prompt"] + row["completion"]
    if fmt == "sharegpt":
        roles = {"human": "user", "gpt": "assistant", "system": "system"}
        return [
            {"role": roles[t["from"]], "content": t["value"], **reasoning_of(t)}
            for t in row["conversations"]
        ]
    prompt, answer = ("instruction", "output") if fmt == "alpaca" else ("problem", "solution")
    return [
        {"role": "user", "content": row[prompt]},
        {"role": "assistant", "content": row[answer], **reasoning_of(row)},
    ]


def reasoning_of(holder: dict) -> dict:
    return (
        {"reasoning_content": holder["reasoning_content"]}
        if holder.get("reasoning_content")
        else {}
    )


# --- every format through load_dataset + a chat template ---


@pytest.mark.parametrize("mode", ["think_tags", "field"])
@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.e2e
def test_every_format_renders_with_roles_and_balanced_think_tags(
    tmp_path, sample_writer, load_dataset, tiny_tokenizer, fmt, mode
):
    has = build_tree(tmp_path, sample_writer)
    merge_outputs(tmp_path, fmt, mode)
    loaded = rows(tmp_path, fmt, load_dataset)
    assert sorted(generation_id(r) for r in loaded) == sorted(has)
    for row in loaded:
        turns = as_conversation(row, fmt)
        assert [t["role"] for t in turns] == ["user", "assistant"]
        text = tiny_tokenizer.apply_chat_template(turns, tokenize=False)
        user_at = text.index("<|im_start|>user\n")
        assert user_at < text.index("<|im_start|>assistant\n")
        # One think block where the sample had reasoning, none where it had not: with field mode
        # the template (like Qwen3's) renders reasoning_content, with think_tags the text has it.
        thinks = 1 if has[generation_id(row)] else 0
        assert text.count(THINK_OPEN) == text.count(THINK_CLOSE) == thinks, text
        if thinks:
            assert text.index(THINK_OPEN) < text.index(THINK_CLOSE) < text.index("\\boxed{")


@pytest.mark.parametrize("system", [None, "Solve step by step."])
@pytest.mark.parametrize("mode", ["think_tags", "field", "drop"])
def test_prompt_completion_completion_part_is_exactly_the_assistant_text(
    tmp_path, sample_writer, load_dataset, tiny_tokenizer, mode, system
):
    """What TRL does for a conversational prompt/completion record: template the prompt with the
    generation prompt, template prompt + completion, and train on the difference only."""
    build_tree(tmp_path, sample_writer)
    merge_outputs(tmp_path, "prompt_completion", mode, system=system)
    for row in rows(tmp_path, "prompt_completion", load_dataset):
        assert [m["role"] for m in row["prompt"]] == ["system", "user"][1 - bool(system) :]
        (answer,) = row["completion"]
        prompt_text = tiny_tokenizer.apply_chat_template(
            row["prompt"], tokenize=False, add_generation_prompt=True
        )
        full_text = tiny_tokenizer.apply_chat_template(
            row["prompt"] + row["completion"], tokenize=False
        )
        assert full_text.startswith(prompt_text)
        expected = answer["content"]
        if answer.get("reasoning_content"):  # field mode: the template writes the think block
            expected = f"<think>\n{answer['reasoning_content']}\n</think>\n\n{expected}"
        assert full_text[len(prompt_text) :] == expected + IM_END
        # Token level, as TRL builds the completion mask: the prompt's ids are a prefix.
        prompt_ids = tiny_tokenizer(prompt_text, add_special_tokens=False)["input_ids"]
        full_ids = tiny_tokenizer(full_text, add_special_tokens=False)["input_ids"]
        assert full_ids[: len(prompt_ids)] == prompt_ids
        assert tiny_tokenizer.decode(full_ids[len(prompt_ids) :]) == expected + IM_END


def test_messages_assistant_mask_covers_exactly_the_assistant_text(
    tmp_path, sample_writer, load_dataset, tiny_tokenizer
):
    """TRL's assistant_only_loss for `messages` needs {% generation %} in the template."""
    build_tree(tmp_path, sample_writer)
    merge_outputs(tmp_path, "messages", "think_tags")
    for row in rows(tmp_path, "messages", load_dataset):
        out = tiny_tokenizer.apply_chat_template(
            row["messages"], return_dict=True, return_assistant_tokens_mask=True
        )
        kept = [i for i, m in zip(out["input_ids"], out["assistant_masks"], strict=True) if m]
        assert tiny_tokenizer.decode(kept) == row["messages"][-1]["content"] + IM_END


def test_think_is_ordinary_tokens_unless_the_tokenizer_has_it_as_special(tiny_tokenizer):
    pieces = tiny_tokenizer.tokenize(THINK_OPEN)
    assert len(pieces) > 1 and "<|im_end|>" in tiny_tokenizer.tokenize("a<|im_end|>")
    with_think = copy.deepcopy(tiny_tokenizer)
    with_think.add_special_tokens({"additional_special_tokens": [THINK_OPEN, THINK_CLOSE]})
    assert with_think.tokenize(f"{THINK_OPEN}\nx\n{THINK_CLOSE}")[0] == THINK_OPEN


# --- the README recipes point at what the merge writes ---


def readme_section() -> str:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    return text.split("## Training on the output", 1)[1].split("\n## ", 1)[0]


def code_blocks(lang: str) -> list[str]:
    return re.findall(rf"```{lang}\n(.*?)```", readme_section(), re.S)


def test_readme_llamafactory_recipe_names_an_entry_of_our_dataset_info(tmp_path, sample_writer):
    import yaml

    (recipe,) = [yaml.safe_load(b) for b in code_blocks("yaml") if "dataset_dir" in b]
    build_tree(tmp_path, sample_writer)
    merge_outputs(tmp_path, "sharegpt")
    info = json.loads((tmp_path / "merged" / "dataset_info.json").read_text(encoding="utf-8"))
    assert recipe["dataset_dir"] == "sft_output/merged" and recipe["dataset"] in info
    assert recipe["stage"] == "sft" and recipe["template"]


def test_readme_axolotl_recipe_maps_sharegpt_turns_to_user_and_assistant(
    tmp_path, sample_writer, load_dataset
):
    import yaml

    (recipe,) = [yaml.safe_load(b) for b in code_blocks("yaml") if "datasets:" in b]
    (ds,) = recipe["datasets"]
    assert ds["type"] == "chat_template" and ds["path"].endswith("sft_math_all_sharegpt.jsonl")
    assert ds["roles_to_train"] == ["assistant"]
    build_tree(tmp_path, sample_writer)
    merge_outputs(tmp_path, "sharegpt")
    mapping = ds["message_property_mappings"]  # axolotl: {target: source key}
    roles = {src: target for target, sources in ds["roles"].items() for src in sources}
    for row in rows(tmp_path, "sharegpt", load_dataset):
        turns = [{k: t[v] for k, v in mapping.items()} for t in row[ds["field_messages"]]]
        assert [roles[t["role"]] for t in turns] == ["user", "assistant"]


def test_readme_trl_recipe_uses_prompt_completion_and_completion_only_loss():
    (snippet,) = code_blocks("python")
    assert "sft_math_all_prompt_completion.jsonl" in snippet
    assert "completion_only_loss=True" in snippet and "bf16=False" in snippet


# --- reasoning in the demo, counted by the report ---


def test_the_demo_endpoint_sends_reasoning_by_default():
    """The launcher starts `python -m sftkit.demo.mock_server` without reasoning flags."""
    cfg = config_from_args(mock_parse_args(["--data_dir", str(ROOT / "data")]))
    assert cfg == MockConfig(data_dir=str(ROOT / "data"))
    assert cfg.reasoning == "reasoning_content" and 0 < cfg.p_reasoning < 1


@pytest.mark.e2e
def test_demo_run_has_balanced_think_blocks_and_the_report_counts_them(
    tmp_path, capsys, mock_server
):
    """The demo's steps in-process: stand-in with its defaults, generator writing
    prompt_completion sample files, watcher, then --merge_only into messages."""
    srv = mock_server()
    out = tmp_path / "out"
    argv = ["--base_url", srv.base_url, "--output_dir", str(out), "--no_progress", "--n", "2"]
    argv += ["--input_file", str(ROOT / "data" / "sample_math.jsonl"), "--worker", "8"]
    assert gen.main([*argv, "--format", "prompt_completion"]) == 0
    assert validate_watcher.main(["--output_dir", str(out), "--once", "--workers", "1"]) == 0
    samples = [
        json.loads(p.read_text(encoding="utf-8"))
        for type_ in (SUBJ, MULT)
        for p in (out / "sample_math" / type_).glob("*.jsonl")
    ]
    assert samples and all(set(s) == {"prompt", "completion", "answer", "meta"} for s in samples)
    thinking = sum(bool(s["meta"]["reasoning"]) for s in samples)
    assert 0 < thinking < len(samples)  # a share of the replies, not all, not none
    for s in samples:
        text = s["completion"][0]["content"]
        assert text.count(THINK_OPEN) == text.count(THINK_CLOSE) == bool(s["meta"]["reasoning"])
    assert list(out.glob("sample_math/*_validated/*.jsonl"))  # the watcher graded this format

    capsys.readouterr()
    assert gen.main(["--merge_only", "--output_dir", str(out), "--format", "messages"]) == 0
    report = json.loads((out / "report.json").read_text(encoding="utf-8"))
    assert report["totals"]["with_reasoning"] == thinking  # the printed line: the test below
    assert report["totals"]["samples"] == len(samples)
    merged = (out / "merged" / "sft_math_all_messages.jsonl").read_text(encoding="utf-8")
    records = [json.loads(line) for line in merged.splitlines()]
    assert any(THINK_OPEN in r["messages"][-1]["content"] for r in records)
    assert all(
        r["messages"][-1]["content"].count(THINK_OPEN)
        == r["messages"][-1]["content"].count(THINK_CLOSE)
        for r in records
    )


def test_report_counts_samples_with_reasoning(tmp_path, sample_writer):
    sample_writer(tmp_path, "s", SUBJ, 0, 0, reasoning="r")
    sample_writer(tmp_path, "s", SUBJ, 0, 1, reasoning=None, correct=False)
    sample_writer(tmp_path, "s", MULT, 0, 0, reasoning="r", mode="drop", correct=None)
    sample_writer(tmp_path, "s", MULT, 0, 1, reasoning="")
    report = build_report(tmp_path)
    assert [r["with_reasoning"] for r in report["rows"]] == [1, 1]
    assert report["totals"]["with_reasoning"] == 2
    assert "Samples with reasoning: 2 of 4" in format_report(report)
