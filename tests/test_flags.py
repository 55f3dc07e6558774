"""sftkit.common.flags: each flag is declared once, on the Config field that receives it."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

import generate_sft_data as gen
import validate_sft_data
import validate_watcher
from sftkit.common.jsonl import InputError


def test_generator_flags_are_its_config_fields():
    args = gen.parse_args([])
    flags = {f.metadata.get("flag") or f"--{f.name}" for f in dataclasses.fields(gen.Config)}
    assert {f"--{k}" for k in vars(args)} == flags  # nothing declared twice, nothing missing
    cfg = gen.config_from_args(args)
    assert cfg == gen.config_from_args(gen.parse_args([]))
    assert (cfg.fmt, cfg.n, cfg.base_urls, cfg.input_files) == (
        "messages",
        4,
        (gen.DEFAULT_BASE_URL,),
        (),
    )


def test_generator_config_derives_and_checks_in_one_place(monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    argv = ["--base_url", "http://a/v1/, http://b/v1", "--extra_body", '{"top_k": 20}']
    cfg = gen.config_from_args(gen.parse_args([*argv, "--input_file", "x_math.jsonl"]))
    assert cfg.base_urls == ("http://a/v1", "http://b/v1")
    assert cfg.extra_body == {"top_k": 20} and cfg.input_files == ("x_math.jsonl",)
    assert cfg.api_key == "sk-test" and "sk-test" not in repr(cfg)
    assert dataclasses.replace(cfg, n=2).base_urls == cfg.base_urls  # derived values stay
    with pytest.raises(InputError, match="--extra_body: must be a JSON object"):
        gen.config_from_args(gen.parse_args(["--extra_body", "[1]"]))
    with pytest.raises(InputError, match="--max_n: must be at least 1"):
        gen.config_from_args(gen.parse_args(["--max_n", "0"]))


def test_watcher_and_validator_configs_come_from_their_flags(tmp_path, capsys):
    cfg = validate_watcher.parse_args(["--output_dir", str(tmp_path), "--workers", "3"])
    assert cfg.stop_file == tmp_path / ".watcher_stop" and cfg.workers == 3
    assert cfg.watch_dirs == (Path(tmp_path).absolute(),)
    with pytest.raises(SystemExit) as exc:
        validate_watcher.parse_args(["--batch_size", "0"])
    assert exc.value.code == 2 and "--batch_size must be >= 1" in capsys.readouterr().err
    cli = validate_sft_data.parse_args(["a", "b", "--keep_incorrect"])
    assert cli == validate_sft_data.Config((Path("a"), Path("b")), Path("validation_output"), True)


@pytest.mark.parametrize(
    "parse, argv, attr, value",
    [
        (gen.parse_args, ["--input-file", "x_math.jsonl"], "input_file", ["x_math.jsonl"]),
        (gen.parse_args, ["--worker", "3"], "requests_in_flight", 3),
        (gen.parse_args, ["--requests-in-flight", "3"], "requests_in_flight", 3),
        (gen.parse_args, ["--timeout", "9"], "request_timeout_s", 9.0),
        (gen.parse_args, ["--request_timeout_s=9"], "request_timeout_s", 9.0),
        (gen.parse_args, ["--same-prompt"], "same_prompt", True),
    ],
)
def test_every_flag_takes_underscores_dashes_and_its_old_name(parse, argv, attr, value):
    assert getattr(parse(argv), attr) == value


@pytest.mark.parametrize(
    "argv, field, value",
    [
        (["--workers", "3"], "workers", 3),
        (["--grading-processes", "3"], "workers", 3),
        (["--timeout", "2.5"], "timeout", 2.5),
        (["--item_timeout_s", "2.5"], "timeout", 2.5),
        (["--batch-size", "4", "--max-tries", "2"], "batch_size", 4),
    ],
)
def test_watcher_flags_take_both_spellings_and_old_names(tmp_path, argv, field, value):
    cfg = validate_watcher.parse_args(["--output-dir", str(tmp_path), *argv])
    assert getattr(cfg, field) == value and cfg.output_dir == tmp_path


def test_help_lists_one_spelling_and_the_old_name(capsys):
    with pytest.raises(SystemExit):
        gen.parse_args(["-h"])
    text = " ".join(capsys.readouterr().out.split())  # argparse wraps lines
    assert "--requests_in_flight REQUESTS_IN_FLIGHT" in text and "(also --worker)" in text
    assert "--requests-in-flight" not in text and "also accepted as --flag-name" in text
