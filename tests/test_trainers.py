r"""Trainer tier (opt-in): TRL's own dataset preparation and two optimizer steps on merged files.

Run with `pip install -r requirements-trainers.txt` then `pytest -m trainers`; the default run
(and CI) deselects these tests, and without TRL they skip saying what to install. The model is a
tiny Qwen2 with random weights built here around conftest's tokenizer: no hub download.
"""

from __future__ import annotations

import json
import math
import os
import re
from pathlib import Path

import pytest

import generate_sft_data as gen
import validate_watcher
from sftkit.output.formats import THINK_CLOSE, THINK_OPEN

pytestmark = [pytest.mark.trainers, pytest.mark.e2e]
ROOT = Path(__file__).resolve().parents[1]
IM_END = "<|im_end|>\n"


@pytest.fixture(scope="module")
def trl():
    """TRL, imported offline; skips the module's tests with the reason when it is missing."""
    os.environ["HF_HUB_OFFLINE"] = os.environ["HF_DATASETS_OFFLINE"] = "1"
    return pytest.importorskip(
        "trl", reason="TRL is not installed: pip install -r requirements-trainers.txt"
    )


@pytest.fixture(scope="module")
def demo_output(tmp_path_factory, trl):
    """A demo run: the stand-in with its defaults (reasoning on about half the replies), n=1 over
    the sample problems, graded by the watcher. Returns the output folder."""
    from sftkit.demo.mock_server import MockConfig, MockServer

    out = tmp_path_factory.mktemp("demo") / "out"
    with MockServer(MockConfig(data_dir=str(ROOT / "data"))) as srv:
        argv = ["--base_url", srv.base_url, "--output_dir", str(out), "--no_progress"]
        argv += ["--data_dir", str(ROOT / "data"), "--n", "1", "--worker", "8"]
        assert gen.main(argv) == 0
    assert validate_watcher.main(["--output_dir", str(out), "--once", "--workers", "1"]) == 0
    return out


def merged(out: Path, fmt: str) -> Path:
    assert gen.main(["--merge_only", "--output_dir", str(out), "--format", fmt]) == 0
    return out / "merged" / f"sft_math_all_{fmt}.jsonl"


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory, tiny_tokenizer, trl):
    """A directory holding a 2-layer Qwen2 with random weights and the tiny tokenizer."""
    import torch
    from transformers import Qwen2Config, Qwen2ForCausalLM

    torch.manual_seed(0)
    config = Qwen2Config(
        vocab_size=len(tiny_tokenizer),
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=2,
        num_key_value_heads=1,
        max_position_embeddings=4096,
        bos_token_id=tiny_tokenizer.bos_token_id,
        eos_token_id=tiny_tokenizer.eos_token_id,
        pad_token_id=tiny_tokenizer.pad_token_id,
        tie_word_embeddings=True,
    )
    path = tmp_path_factory.mktemp("tiny_model")
    Qwen2ForCausalLM(config).save_pretrained(path)
    tiny_tokenizer.save_pretrained(path)
    return path


def trained_text(trainer, row: dict) -> str:
    """The tokens TRL computes the loss on (labels != -100), decoded."""
    kept = [i for i, label in zip(row["input_ids"], row["labels"], strict=True) if label != -100]
    return trainer.processing_class.decode(kept)


def readme_trl_snippet() -> str:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Training on the output", 1)[1]
    return re.search(r"```python\n(.*?)```", section, re.S).group(1)


def test_readme_trl_snippet_trains_two_steps_on_a_demo_merge(
    demo_output, tiny_model, monkeypatch, tmp_path
):
    """The README's snippet as written, with the model and data pointed here and 2 steps."""
    data = merged(demo_output, "prompt_completion")
    code = readme_trl_snippet()
    for old, new in [
        ('"sft_output/merged/sft_math_all_prompt_completion.jsonl"', repr(str(data))),
        ('"Qwen/Qwen3-0.6B"', repr(str(tiny_model))),
        ("num_train_epochs=1,", "max_steps=2, per_device_train_batch_size=2, save_strategy='no',"),
    ]:
        assert code.count(old) == 1, old
        code = code.replace(old, new)
    monkeypatch.chdir(tmp_path)
    scope: dict = {}
    exec(compile(code, "README.md (TRL snippet)", "exec"), scope)
    trainer = scope["trainer"]
    assert trainer.state.global_step == 2
    assert all(math.isfinite(log["loss"]) for log in trainer.state.log_history if "loss" in log)
    # TRL's own preparation: the loss covers exactly each record's assistant text.
    records = [json.loads(line) for line in data.read_text(encoding="utf-8").splitlines()]
    assert len(trainer.train_dataset) == len(records)
    thinking = 0
    for row, record in zip(trainer.train_dataset, records, strict=True):
        answer = record["completion"][0]["content"]
        assert trained_text(trainer, row) == answer + IM_END
        assert answer.count(THINK_OPEN) == answer.count(THINK_CLOSE) <= 1
        thinking += THINK_OPEN in answer
    assert 0 < thinking < len(records)


def test_trl_assistant_only_loss_on_messages_with_reasoning_field(demo_output, tiny_model, trl):
    """`messages` + assistant_only_loss with a {% generation %} template; the field mode's
    reasoning_content reaches the tokens through the (Qwen3-like) template."""
    from datasets import load_dataset

    out = demo_output
    assert gen.main(["--merge_only", "--output_dir", str(out), "--format", "messages",
                     "--reasoning", "field"]) == 0  # fmt: skip
    data = out / "merged" / "sft_math_all_messages.jsonl"
    dataset = load_dataset("json", data_files=str(data), split="train")
    args = trl.SFTConfig(
        output_dir=str(out / "trl_messages"), assistant_only_loss=True, bf16=False,
        max_steps=1, per_device_train_batch_size=2, save_strategy="no", report_to="none",
    )  # fmt: skip
    trainer = trl.SFTTrainer(model=str(tiny_model), train_dataset=dataset, args=args)
    for row in trainer.train_dataset:
        answer = row["messages"][-1]
        expected = answer["content"]
        if answer.get("reasoning_content"):
            expected = f"<think>\n{answer['reasoning_content']}\n</think>\n\n{expected}"
        assert trained_text(trainer, row) == expected + IM_END
    assert trainer.train().global_step == 1


def test_trl_keeps_sharegpt_role_values(demo_output, tiny_model, trl):
    """Why the README sends TRL users to messages or prompt_completion: TRL renames ShareGPT's
    keys but not its role values, so the template sees `human` and `gpt`."""
    from datasets import load_dataset

    data = merged(demo_output, "sharegpt")
    dataset = load_dataset("json", data_files=str(data), split="train")
    args = trl.SFTConfig(output_dir=str(demo_output / "trl_sharegpt"), bf16=False, max_steps=1,
                         report_to="none")  # fmt: skip
    trainer = trl.SFTTrainer(model=str(tiny_model), train_dataset=dataset, args=args)
    text = trainer.processing_class.decode(trainer.train_dataset[0]["input_ids"])
    assert "<|im_start|>human\n" in text and "<|im_start|>gpt\n" in text
