r"""The merge's selection: filters with named reasons, the audit file, counts that add up in
merge_summary.json and report.json, pass rates in meta, --pass_rate, and --merge_only rebuilds."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import generate_sft_data
from sftkit.output.filters import FILTERS, FilterConfig
from sftkit.output.merge import merge_outputs
from sftkit.output.report import build_report, format_report
from sftkit.output.selection import (
    BUCKETS,
    Selection,
    audit_file,
    bucket,
    parse_pass_rate,
    pass_rates,
    read_summary,
)

SUBJ = "subjectives"
LOOP = "Wait, let me recompute the value from the beginning to make sure every step is right. "


def build(out, write):
    """Problem 0: 4 correct of 4 (one truncated after its box, one hedged, one a duplicate of
    another); problem 1: 1 correct of 4 (a loop); problem 2: 2 of 4, healthy."""
    healthy = "Add them: $1 + 2 = 3$. So the answer is \\boxed{3}."
    write(out, "src", SUBJ, 0, 0, content=healthy, prompt="P0")
    write(out, "src", SUBJ, 0, 1, content=healthy, prompt="P0")  # same text: a duplicate
    write(out, "src", SUBJ, 0, 2, content=healthy + " more", prompt="P0", truncated=True)
    write(out, "src", SUBJ, 0, 3, content="either \\boxed{5} or \\boxed{3}", prompt="P0")
    write(out, "src", SUBJ, 1, 0, content=LOOP * 25 + healthy, prompt="P1")
    for s in (1, 2, 3):
        write(out, "src", SUBJ, 1, s, correct=False, content="\\boxed{4}", prompt="P1")
    for s in (0, 1):
        write(out, "src", SUBJ, 2, s, content=f"{healthy} ({s})", prompt="P2")
    for s in (2, 3):
        write(out, "src", SUBJ, 2, s, correct=False, content="\\boxed{9}", prompt="P2")


def merged_records(out) -> list[dict]:
    text = (out / "merged" / "sft_math_all_messages.jsonl").read_text(encoding="utf-8")
    return [json.loads(line) for line in text.splitlines()]


def audit(out) -> list[dict]:
    text = audit_file(out).read_text(encoding="utf-8")
    return [json.loads(line) for line in text.splitlines()]


def test_default_filters_drop_with_named_reasons_and_counts_add_up(tmp_path, sample_writer):
    build(tmp_path, sample_writer)
    stats = merge_outputs(tmp_path, "messages")
    kept = [
        (r["meta"]["problem_index"], r["meta"]["sample_index"]) for r in merged_records(tmp_path)
    ]
    assert kept == [(0, 0), (2, 0), (2, 1)]
    assert stats.filtered == {"hedged": 1, "repetition": 1, "truncated": 1}
    dropped = {(a["problem_index"], a["sample_index"]): a["reason"] for a in audit(tmp_path)}
    assert dropped == {(0, 2): "truncated", (0, 3): "hedged", (1, 0): "repetition"}
    row = read_summary(tmp_path)["by_source_type"]["src/subjectives"]
    assert row == {
        "correct": 7,
        "judge_recovered": 0,
        "considered": 7,
        "merged": 3,
        "filtered": 3,
        "duplicates": 1,
        "by_reason": {"hedged": 1, "repetition": 1, "truncated": 1},
    }
    assert row["correct"] == row["merged"] + row["filtered"] + row["duplicates"]


def test_every_merged_record_carries_its_pass_rate(tmp_path, sample_writer):
    build(tmp_path, sample_writer)
    assert pass_rates(tmp_path / "src" / SUBJ) == {0: (4, 4), 1: (1, 4), 2: (2, 4)}
    merge_outputs(tmp_path, "messages", selection=Selection(filters=FilterConfig(enabled=())))
    rates = {
        (r["meta"]["problem_index"], r["meta"]["sample_index"]): (
            r["meta"]["pass_rate"],
            r["meta"]["n_graded"],
        )
        for r in merged_records(tmp_path)
    }
    assert rates[(0, 0)] == (1.0, 4) and rates[(1, 0)] == (0.25, 4) and rates[(2, 1)] == (0.5, 4)
    assert len(rates) == 6  # every correct sample but the duplicate: no filter ran


def test_a_changed_sample_loses_its_verdict_in_the_pass_rate(tmp_path, sample_writer):
    build(tmp_path, sample_writer)
    path = tmp_path / "src" / SUBJ / "2_3.jsonl"
    path.write_text(path.read_text(encoding="utf-8") + "\n", encoding="utf-8")  # regrade due
    assert pass_rates(tmp_path / "src" / SUBJ)[2] == (2, 3)


@pytest.mark.parametrize(
    "band, kept",
    [
        ((0.1, 0.9), [(1, 0), (2, 0), (2, 1)]),  # open-r1's band: always-solved problem 0 goes
        ((0.5, 0.5), [(2, 0), (2, 1)]),
        ((0.0, 1.0), [(0, 0), (0, 2), (0, 3), (1, 0), (2, 0), (2, 1)]),
    ],
)
def test_pass_rate_band(tmp_path, sample_writer, band, kept):
    build(tmp_path, sample_writer)
    sel = Selection(filters=FilterConfig(enabled=()), pass_rate=band)
    stats = merge_outputs(tmp_path, "messages", selection=sel)
    got = [
        (r["meta"]["problem_index"], r["meta"]["sample_index"]) for r in merged_records(tmp_path)
    ]
    assert got == kept
    dropped = 7 - len(kept) - stats.duplicates
    assert stats.filtered == ({"pass_rate": dropped} if dropped else {})


@pytest.mark.parametrize(
    "text, expected",
    [("0.1,0.9", (0.1, 0.9)), ("0,1", (0.0, 1.0)), ("", None), (None, None)],
)
def test_parse_pass_rate(text, expected):
    assert parse_pass_rate(text) == expected


@pytest.mark.parametrize("text", ["0.9,0.1", "0.5", "a,b", "-0.1,0.5", "0.1,1.5"])
def test_parse_pass_rate_refuses(text):
    with pytest.raises(ValueError, match="LO,HI"):
        parse_pass_rate(text)


@pytest.mark.parametrize(
    "correct, graded, expected",
    [(0, 4, "0"), (1, 4, "0.2-0.3"), (1, 10, "0.1-0.2"), (9, 10, "0.9-1.0"), (4, 4, "1"),
     (0, 0, None)],
)  # fmt: skip
def test_bucket(correct, graded, expected):
    assert bucket(correct, graded) == expected


def test_report_json_counts_per_reason_and_buckets(tmp_path, sample_writer):
    build(tmp_path, sample_writer)
    merge_outputs(tmp_path, "messages")
    report = build_report(tmp_path)
    (row,) = report["rows"]
    assert row["merge"]["by_reason"] == {"hedged": 1, "repetition": 1, "truncated": 1}
    m = report["totals"]["merge"]
    assert m["correct"] == row["correct"] == m["merged"] + m["filtered"] + m["duplicates"]
    assert report["merge"]["filters"] == list(FILTERS[:5])
    assert set(row["pass_rate_buckets"]) == set(BUCKETS)
    assert {b: n for b, n in row["pass_rate_buckets"].items() if n} == {
        "1": 1,
        "0.2-0.3": 1,
        "0.5-0.6": 1,
    }
    text = format_report(report)
    assert "Merged: correct 7 = merged 3 + filtered 3 + duplicates 1" in text
    assert "hedged 1, repetition 1, truncated 1" in text
    assert "Pass rate (problem versions): 0.2-0.3: 1, 0.5-0.6: 1, 1: 1" in text
    assert all(len(line) <= 100 for line in text.splitlines())


def test_report_before_any_merge_has_no_merge_block(tmp_path, sample_writer):
    build(tmp_path, sample_writer)
    report = build_report(tmp_path)
    assert report["merge"] is None and report["rows"][0]["merge"] is None
    assert "Merged:" not in format_report(report)


@pytest.mark.e2e
def test_merge_only_rebuilds_with_other_filters_without_requests(tmp_path, sample_writer, capsys):
    build(tmp_path, sample_writer)
    base = ["--merge_only", "--output_dir", str(tmp_path), "--base_url", "http://127.0.0.1:9/v1"]
    assert generate_sft_data.main(base) == 0
    assert len(merged_records(tmp_path)) == 3
    assert generate_sft_data.main([*base, "--filters", "hedged"]) == 0
    assert len(merged_records(tmp_path)) == 5  # the loop and the cut one are back
    assert [a["reason"] for a in audit(tmp_path)] == ["hedged"]
    assert generate_sft_data.main([*base, "--filters", "none", "--pass_rate", "0.1,0.9"]) == 0
    report = json.loads((tmp_path / "report.json").read_text(encoding="utf-8"))
    assert report["totals"]["merge"]["by_reason"] == {"pass_rate": 4}  # problem 0: all solved
    assert report["merge"]["pass_rate"] == [0.1, 0.9]


@pytest.mark.parametrize(
    "flags, message",
    [
        (["--filters", "truncated,hedge"], "--filters: unknown filter(s) hedge"),
        (["--filters", "too_long"], "--filters too_long: needs --max_completion_tokens"),
        (["--pass_rate", "0.9,0.1"], "--pass_rate: expected LO,HI"),
        (["--max_completion_tokens", "0"], "--max_completion_tokens: must be at least 1"),
    ],
)
def test_bad_selection_flags_exit_2(tmp_path, capsys, flags, message):
    assert generate_sft_data.main(["--merge_only", "--output_dir", str(tmp_path), *flags]) == 2
    assert message in capsys.readouterr().err


def test_max_completion_tokens_turns_too_long_on(tmp_path, sample_writer):
    sample_writer(tmp_path, "src", SUBJ, 0, 0, usage=(10, 5000))
    sample_writer(tmp_path, "src", SUBJ, 0, 1, usage=(10, 50), content="\\boxed{3} ok")
    cfg = generate_sft_data.config_from_args(
        generate_sft_data.parse_args(["--max_completion_tokens", "4096"])
    )
    assert "too_long" in cfg.filters
    stats = merge_outputs(tmp_path, "messages", selection=cfg.selection())
    assert stats.filtered == {"too_long": 1} and stats.written == 1


def test_end_to_end_every_quirk_is_dropped_with_its_reason(tmp_path, mock_server, capsys):
    """Generator -> watcher -> merge against the stand-in sending only quirky correct replies:
    each quirk ends in its filter's reason, and report.json's counts add up."""
    import validate_watcher

    repo = Path(__file__).resolve().parents[1]
    srv = mock_server(p_quirk=1.0, p_correct=1.0, p_no_box=0.0)
    out = tmp_path / "out"
    gen_args = ["--base_url", srv.base_url, "--output_dir", str(out), "--n", "2"]
    gen_args += ["--data_dir", str(repo / "data"), "--no_progress", "--no_merge"]
    assert generate_sft_data.main(gen_args) == 0
    assert validate_watcher.main(["--output_dir", str(out), "--once"]) == 0
    assert generate_sft_data.main(["--merge_only", "--output_dir", str(out)]) == 0
    report = json.loads((out / "report.json").read_text(encoding="utf-8"))
    m = report["totals"]["merge"]
    assert m["correct"] == m["merged"] + m["filtered"] + m["duplicates"] > 0
    assert set(m["by_reason"]) == {
        "truncated", "hedged", "unbalanced_think", "repetition", "language_mix"
    }  # fmt: skip
    assert m["merged"] <= m["correct"] // 4  # the odd survivor: a hedge with no wrong answer
    for row in report["rows"]:
        rm = row["merge"]
        assert rm["correct"] == rm["merged"] + rm["filtered"] + rm["duplicates"]
        assert rm["filtered"] == sum(rm["by_reason"].values())
    lines = audit(out)
    assert len(lines) == m["filtered"] and all(x["reason"] in FILTERS for x in lines)
    capsys.readouterr()
