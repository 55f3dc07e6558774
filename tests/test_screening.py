r"""The generator's screening against the stand-in: contaminated problems and keep_one's near
duplicates get no request; contamination.jsonl, near_duplicates.jsonl, report.json and the printed
report; benchmark digests in the run signature; `validate_sft_data.py --decontaminate` on a merged
dataset; the launcher. Every problem and benchmark file is written here."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import generate_sft_data as gen
import validate_sft_data as vsd

ROOT = Path(__file__).resolve().parents[1]
SENT = ROOT / "data" / "sentences_ask_boxed.jsonl"

BENCH = [
    {"problem": "Let $f(x) = x^2 + 3x + 2$. Find the sum of all real numbers $x$ such that "
     "$f(x) = 12$.", "answer": "-3"},
    {"problem": r"Compute $\dbinom{31}{28}$.", "answer": "4495"},
    {"problem": "A jar holds 4 red marbles and 6 blue marbles. Two marbles are drawn without "
     "replacement. What is the probability that both are red? Express your answer as a common "
     "fraction.", "answer": r"\frac{2}{15}"},
]  # fmt: skip
TRAIN = (
    "A train travels 120 kilometres in 2 hours at a constant speed. How many kilometres does it "
    "travel in 5 hours at the same speed?"
)
RECT = (
    "A rectangle has a perimeter of 30 centimetres and a width of 5 centimetres. What is the "
    "area of the rectangle in square centimetres?"
)
INPUT = [
    ("copy", BENCH[0]["problem"], "-3"),  # an exact copy
    ("renumbered", BENCH[2]["problem"].replace("6 blue", "7 blue"), r"\frac{6}{55}"),
    ("clean", "Find the value of $k$ for which the line $y = kx + 1$ is tangent to the parabola "
     "$y = x^2$. Express your answer as a common fraction.", "2"),  # common phrases only
    ("reflowed", "Let  $f(x)=x^{2}+3x+2$ .\nFind the sum of all real\n numbers $x$ such that "
     "$f(x)=12$.", "-3"),
    ("train", TRAIN, "300"),
    ("short", r"Compute $\binom{31}{28}$.", "4495"),
    ("train2", TRAIN.replace("the same speed", "that same speed"), "300"),
    ("rect5", RECT, "50"),
    ("rect6", RECT.replace("width of 5", "width of 6"), "54"),
]  # fmt: skip
CONTAMINATED = {"copy": 0, "renumbered": 2, "reflowed": 0, "short": 1}  # id -> benchmark row - 1


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


@pytest.fixture
def files(tmp_path):
    bench = write_jsonl(tmp_path / "bench" / "mybench.jsonl", BENCH)
    rows = [{"id": i, "problem": p, "answer": a} for i, p, a in INPUT]
    data = write_jsonl(tmp_path / "data" / "mine_math.jsonl", rows)
    return bench, data


def run(srv, out: Path, data: Path, *extra: str) -> int:
    return gen.main(
        ["--input_file", str(data), "--output_dir", str(out), "--base_url", srv.base_url,
         "--sentences", str(SENT), "--no_progress", "--n", "1", "--worker", "4", *extra]
    )  # fmt: skip


def asked(srv) -> set[str]:
    """Ids of the input problems the stand-in was asked about."""
    prompts = [m["content"] for b in srv.bodies for m in b["messages"] if m["role"] == "user"]
    return {i for i, text, _ in INPUT if any(text.strip() in p for p in prompts)}


def lines(path: Path) -> list[dict]:
    return [json.loads(x) for x in path.read_text(encoding="utf-8").splitlines()]


@pytest.mark.e2e
def test_contaminated_problems_get_no_request_and_are_listed(tmp_path, files, mock_server, capsys):
    bench, data = files
    srv, out = mock_server(), tmp_path / "out"
    assert run(srv, out, data, "--decontaminate", str(bench)) == 0
    assert asked(srv) == {i for i, _, _ in INPUT} - set(CONTAMINATED)
    # each asked problem once (short answers: one version under --versions auto), nothing else
    assert srv.stats["requests"] == len(INPUT) - len(CONTAMINATED)
    found = lines(out / "contamination.jsonl")
    assert {c["id"]: c["benchmark_row"] - 1 for c in found} == CONTAMINATED
    first = found[0]
    assert first["source"] == "mine_math" and first["problem"] == INPUT[0][1]
    assert first["benchmark_file"] == str(bench) and first["line"] == 1
    assert first["ngram"] == "let f x x 2 3 x 2"
    report = json.loads((out / "report.json").read_text())
    dec = report["decontamination"]
    assert dec["contaminated"] == 4 and dec["problems_checked"] == len(INPUT)
    assert [(b["file"], b["rows"], b["contaminated"]) for b in dec["benchmarks"]] == [
        (str(bench), 3, 4)
    ]
    printed = capsys.readouterr().out
    assert "Decontamination (8-grams): 4 of 9 problems dropped before any request" in printed
    assert any(x.endswith(f"/bench/{bench.name}: 4") for x in printed.splitlines())
    # dropped problems keep their numbers: samples are named by the input row
    names = sorted(p.name for p in (out / "mine_math" / "subjectives").glob("*.jsonl"))
    assert names == ["2_0.jsonl", "4_0.jsonl", "6_0.jsonl", "7_0.jsonl", "8_0.jsonl"]
    assert report["totals"]["stray"] == 0


@pytest.mark.e2e
def test_near_duplicates_reported_by_default_and_keep_one_drops(
    tmp_path, files, mock_server, capsys
):
    bench, data = files
    srv, out = mock_server(), tmp_path / "out"
    assert run(srv, out, data) == 0  # no --decontaminate: every problem is asked
    assert asked(srv) == {i for i, _, _ in INPUT}
    clusters = lines(out / "near_duplicates.jsonl")
    got = {tuple(m["id"] for m in c["members"]): c["golds_differ"] for c in clusters}
    assert got[("train", "train2")] is False
    assert got[("rect5", "rect6")] is True  # one number changed: reported apart
    near = json.loads((out / "report.json").read_text())["near_duplicates"]
    assert near["mode"] == "report" and near["dropped"] == 0
    assert near["same_gold_clusters"] >= 1 and near["different_gold_clusters"] >= 1
    assert not (out / "contamination.jsonl").exists()

    srv2, out2 = mock_server(), tmp_path / "out2"
    assert run(srv2, out2, data, "--near_dup", "keep_one") == 0
    assert "train2" not in asked(srv2) and {"train", "rect5", "rect6"} <= asked(srv2)
    kept = {m["id"]: m["kept"] for c in lines(out2 / "near_duplicates.jsonl") for m in c["members"]}
    assert kept["train2"] is False and kept["rect6"] is True
    assert json.loads((out2 / "report.json").read_text())["near_duplicates"]["dropped"] >= 1

    srv3, out3 = mock_server(), tmp_path / "out3"
    assert run(srv3, out3, data, "--near_dup", "off") == 0
    assert not (out3 / "near_duplicates.jsonl").exists()
    assert json.loads((out3 / "report.json").read_text())["near_duplicates"] is None


@pytest.mark.e2e
def test_benchmark_digests_in_the_signature(tmp_path, files, mock_server, capsys):
    bench, data = files
    srv, out = mock_server(), tmp_path / "out"
    assert run(srv, out, data, "--decontaminate", str(bench)) == 0
    sig = json.loads((out / "run_signature.json").read_text())["signatures"][0]
    assert sig["screening"]["decontam_ngram"] == 8
    assert sig["screening"]["benchmarks"] == [json.loads(json.dumps(_digest(bench)))]
    # the same content under another name is the same run
    moved = shutil.copy(bench, tmp_path / "elsewhere.jsonl")
    assert run(srv, out, data, "--decontaminate", str(moved)) == 0
    # another benchmark set would leave samples of problems it drops: refused before any request
    requests = srv.stats["requests"]
    assert run(srv, out, data) == 2
    other = write_jsonl(tmp_path / "other.jsonl", BENCH[:1])
    assert run(srv, out, data, "--decontaminate", str(other)) == 2
    assert srv.stats["requests"] == requests
    assert "differs in: screening" in capsys.readouterr().err


def _digest(path):
    from sftkit.inputs.benchmarks import file_digest

    return file_digest(path)


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--decontaminate", "missing.jsonl"], "--decontaminate: missing.jsonl: no such file"),
        (["--decontam_ngram", "0"], "--decontam_ngram: must be at least 1"),
        (["--near_dup_threshold", "1.5"], "--near_dup_threshold: must be in (0, 1]"),
    ],
)
def test_bad_screening_flags_exit_2(tmp_path, files, mock_server, capsys, argv, message):
    srv = mock_server()
    assert run(srv, tmp_path / "out", files[1], *argv) == 2
    assert message in capsys.readouterr().err
    assert srv.stats["requests"] == 0


def test_unreadable_benchmark_row_exits_2_before_any_request(tmp_path, files, mock_server, capsys):
    srv, bad = mock_server(), tmp_path / "bad.jsonl"
    bad.write_text('{"problem": "Compute 1+1."}\n{"question": 3}\n')
    assert run(srv, tmp_path / "out", files[1], "--decontaminate", str(bad)) == 2
    assert f"{bad}:2: no problem text (fields present: question)" in capsys.readouterr().err
    assert srv.stats["requests"] == 0


def test_validate_cli_checks_a_merged_dataset(tmp_path, files, capsys):
    bench, data = files
    merged = tmp_path / "merged.jsonl"
    sentence = "Please reason step by step, and put your final answer within \\boxed{}."
    records = [
        {"messages": [{"role": "user", "content": f"{text}\n\n{sentence}"},
                      {"role": "assistant", "content": f"\\boxed{{{gold}}}"}]}
        for _, text, gold in INPUT
    ]  # fmt: skip
    write_jsonl(merged, records)
    out = tmp_path / "check"
    rc = vsd.main([str(merged), "--decontaminate", str(bench), "--output_dir", str(out)])
    assert rc == 3
    found = lines(out / "contamination.jsonl")
    assert [(c["line"], c["benchmark_row"]) for c in found] == [(1, 1), (2, 3), (4, 1), (6, 2)]
    assert f"  {bench} (3 problems): 4" in capsys.readouterr().out
    # a bad benchmark file stops before the last check's output is touched
    bad = write_jsonl(tmp_path / "bad.jsonl", [{"problem": 3}])
    assert vsd.main([str(merged), "--decontaminate", str(bad), "--output_dir", str(out)]) == 2
    assert len(lines(out / "contamination.jsonl")) == 4
    clean = write_jsonl(tmp_path / "clean.jsonl", [records[2], records[4]])
    assert vsd.main([str(clean), "--decontaminate", str(bench), "--output_dir", str(out)]) == 0
    assert lines(out / "contamination.jsonl") == []


@pytest.mark.e2e
def test_launcher_run_sends_no_request_for_contaminated_problems(tmp_path, files, mock_server):
    bench, data = files
    srv, out = mock_server(), tmp_path / "out"
    res = subprocess.run(
        ["bash", str(ROOT / "run_sft_pipeline.sh"), "--no-tmux", "--input_file", str(data),
         "--output_dir", str(out), "--n", "1", "--base_url", srv.base_url, "--interval", "0.3",
         "--stop_delay", "0.2", "--", "--decontaminate", str(bench)],
        cwd=tmp_path, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=180,
        env={"PATH": f"{Path(sys.executable).parent}:/usr/bin:/bin", "PYTHON": sys.executable},
    )  # fmt: skip
    assert res.returncode == 0, res.stdout + res.stderr
    assert asked(srv) == {i for i, _, _ in INPUT} - set(CONTAMINATED)
    report = json.loads((out / "report.json").read_text())
    assert report["decontamination"]["contaminated"] == 4  # its printed line: the test above


def test_fields_maps_a_benchmark_problem_field_too(tmp_path, mock_server, capsys):
    odd = write_jsonl(tmp_path / "odd.jsonl", [{"statement": r["problem"]} for r in BENCH])
    rows = [{"id": i, "statement": p, "answer": a} for i, p, a in INPUT]
    data = write_jsonl(tmp_path / "data" / "mine_math.jsonl", rows)
    srv, out = mock_server(), tmp_path / "out"
    fields = ["--fields", "problem=statement"]
    # without --fields neither file has a problem field the detection knows
    assert run(srv, out, data, "--decontaminate", str(odd)) == 2
    assert "missing a problem field" in capsys.readouterr().err
    assert run(srv, out, data, "--decontaminate", str(odd), *fields) == 0
    assert {c["id"] for c in lines(out / "contamination.jsonl")} == set(CONTAMINATED)
    assert asked(srv) == {i for i, _, _ in INPUT} - set(CONTAMINATED)


@pytest.mark.e2e
def test_a_rerun_reuses_the_clusters_until_the_problems_or_threshold_change(
    tmp_path, files, mock_server, monkeypatch
):
    from sftkit.inputs import near_dup
    from sftkit.output import layout

    _, data = files
    srv, out = mock_server(), tmp_path / "out"
    assert run(srv, out, data) == 0
    first = lines(out / "near_duplicates.jsonl")
    assert layout.near_dup_cache(out).exists()
    calls = []
    real = near_dup.find_clusters
    monkeypatch.setattr(near_dup, "find_clusters", lambda *a, **k: calls.append(1) or real(*a, **k))
    assert run(srv, out, data) == 0  # a resume: same problems, same settings
    assert calls == [] and lines(out / "near_duplicates.jsonl") == first
    assert run(srv, out, data, "--near_dup_threshold", "0.5") == 0
    assert calls == [1]
    rows = [json.loads(x) for x in data.read_text().splitlines()]
    rows[0]["problem"] += " Give the answer as a fraction."
    data.write_text("".join(json.dumps(r) + "\n" for r in rows))
    out2 = tmp_path / "out2"
    shutil.copy(layout.near_dup_cache(out), layout.near_dup_cache(out2.mkdir() or out2))
    assert run(srv, out2, data) == 0  # another problem text: another key
    assert calls == [1, 1]
