r"""Training on the output: the demo's reasoning reaches the training files balanced."""

from __future__ import annotations

import json
from pathlib import Path

import generate_sft_data as gen
import validate_watcher
from sftkit.formats import THINK_CLOSE, THINK_OPEN
from sftkit.merge import build_report, format_report
from sftkit.mock_server import MockConfig, config_from_args
from sftkit.mock_server import parse_args as mock_parse_args

ROOT = Path(__file__).resolve().parents[1]
SUBJ, MULT = "subjectives", "multiples"


# --- reasoning in the demo, counted by the report ---


def test_the_demo_endpoint_sends_reasoning_by_default():
    """The launcher starts `python -m sftkit.mock_server` without reasoning flags."""
    cfg = config_from_args(mock_parse_args(["--data_dir", str(ROOT / "data")]))
    assert cfg == MockConfig(data_dir=str(ROOT / "data"))
    assert cfg.reasoning == "reasoning_content" and 0 < cfg.p_reasoning < 1


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
    printed = capsys.readouterr().out
    report = json.loads((out / "report.json").read_text(encoding="utf-8"))
    assert report["totals"]["with_reasoning"] == thinking
    assert f"Samples with reasoning: {thinking} of {len(samples)}" in printed
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
