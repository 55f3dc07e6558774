r"""generate_sft_data.py against the stand-in server: storage, golds, prompts, faults, resume,
preflight, bad input, reasoning fields, --k_correct and --retry_zero.

Most runs call main(argv) in-process (the stand-in server runs in a thread); the ones that need
a separate process (prompt reproducibility, kill -9, api key on the console) use subprocesses.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import subset

import generate_sft_data as gen
from sftkit.common.jsonl import InputError, append_jsonl
from sftkit.inputs.problems import MULTIPLE, SUBJECTIVE, build_prompt, build_versions, load_problems
from sftkit.inputs.problems import load_sentences as _load_sentences
from sftkit.watching.index import SampleSet

ROOT = Path(__file__).resolve().parents[1]
MATH = ROOT / "data" / "sample_math.jsonl"
SENT = ROOT / "data" / "sentences_ask_boxed.jsonl"
SENTENCES = _load_sentences(SENT)


def args(srv, out: Path, *extra: str) -> list[str]:
    return [
        "--base_url", srv.base_url, "--output_dir", str(out), "--sentences", str(SENT),
        "--no_progress", "--max_retries", "3", "--worker", "8", *extra,
    ]  # fmt: skip


def run(capsys, argv: list[str]) -> tuple[int, str, str]:
    rc = gen.main(argv)
    cap = capsys.readouterr()
    return rc, cap.out, cap.err


def generation_state(out: Path) -> dict:
    """<out>/.generation.json: the generator's figures (assert on these, not on printed text)."""
    return json.loads((out / ".generation.json").read_text(encoding="utf-8"))


def stored(out: Path, source: str) -> dict[tuple[str, int, int], dict]:
    """Every sample file, parsed: each must hold exactly one complete JSON line."""
    found = {}
    for type_ in (SUBJECTIVE, MULTIPLE):
        for path in sorted((out / source / type_).glob("*.jsonl")):
            lines = path.read_text(encoding="utf-8").splitlines()
            assert len(lines) == 1, path
            p, s = map(int, path.stem.split("_"))
            found[(type_, p, s)] = json.loads(lines[0])
    return found


def failures(out: Path, source: str) -> list[dict]:
    path = out / source / "failures.jsonl"
    if not path.exists():
        return []
    return [json.loads(x) for x in path.read_text(encoding="utf-8").splitlines()]


def gen_env() -> dict:
    return {**os.environ, "PYTHONPATH": str(ROOT), "OPENAI_API_KEY": ""}


# --- every problem, both versions, right golds, exact prompts ---


def test_every_problem_both_versions_with_golds(tmp_path, capsys, mock_server):
    srv = mock_server(p_correct=1.0, reasoning="reasoning_content", p_reasoning=1.0)
    out = tmp_path / "out"
    rc, stdout, _ = run(capsys, args(srv, out, "--data_dir", str(ROOT / "data"), "--n", "2"))
    assert rc == 0
    got = stored(out, "sample_math")
    problems = load_problems(MATH)
    # --versions auto: a problem with choices in both versions, one without choices once.
    assert len(got) == sum(2 if p.choices else 1 for p in problems) * 2
    assert not any(t == MULTIPLE and not problems[p].choices for t, p, _ in got)
    for problem in problems:
        for version in build_versions(problem, "auto"):
            for s in range(2):
                rec = got[(version.type, problem.index, s)]
                meta = rec["meta"]
                assert rec["answer"] == version.gold
                assert meta["prompt"] == build_prompt(version, SENTENCES, s)
                assert rec["messages"][0] == {"role": "user", "content": meta["prompt"]}
                assert rec["messages"][1]["role"] == "assistant"
                assert meta["generation_id"] == f"sample_math/{version.type}/{problem.index}_{s}"
                assert (meta["problem_id"], meta["problem_index"]) == (problem.id, problem.index)
                assert (meta["type"], meta["sample_index"]) == (version.type, s)
                assert meta["model"] == "demo-model" and meta["finish_reason"] == "stop"
                assert meta["truncated"] is False and meta["usage"]["prompt_tokens"] > 0
                assert meta["reasoning"] and "<think>" in rec["messages"][1]["content"]
    state = json.loads((out / ".generation.json").read_text())
    with_choices = sum(1 for p in problems if p.choices)
    row = state["by_source_type"]["sample_math/multiples"]
    assert row["planned"] == row["written"] == with_choices * 2 and row["failed"] == 0
    # The plan spans every problem number up to the last one asked: a file beyond it is stray.
    assert row["problems"] == max(p.index for p in problems if p.choices) + 1
    assert state["n"] == 2 and state["model"] == "demo-model"
    assert state["inputs"]["versions"] == "auto" and state["inputs"]["problems"] == len(problems)
    assert (state["timing"]["written"], state["timing"]["failed"]) == (len(got), 0)
    # The one wording test of the generator's summary line (its figures are the state's).
    assert f"written {len(got)} (0 truncated), failed 0" in stdout
    assert not list(out.rglob("*.tmp"))


def test_formats_and_simple_fields(tmp_path, capsys, mock_server):
    srv = mock_server(p_correct=1.0)
    src = subset(tmp_path, 2)
    for fmt, key in (
        ("sharegpt", "conversations"),
        ("alpaca", "instruction"),
        ("simple", "problem"),
    ):
        out = tmp_path / fmt
        assert (
            run(capsys, args(srv, out, "--input_file", str(src), "--n", "1", "--format", fmt))[0]
            == 0
        )
        rec = stored(out, "sub_math")[(SUBJECTIVE, 0, 0)]
        assert key in rec and rec["meta"]["format"] == fmt
        if fmt == "simple":
            assert (
                rec["generation_id"] == "sub_math/subjectives/0_0" and rec["source"] == "sub_math"
            )


# --- prompts and api key across processes ---


def test_prompts_identical_across_processes_and_key_never_printed(tmp_path, mock_server):
    srv = mock_server(p_correct=1.0)
    src = subset(tmp_path, 4)
    prompts = []
    for i, hash_seed in enumerate(("11", "22")):
        out = tmp_path / f"out{i}"
        cmd = [
            sys.executable, str(ROOT / "generate_sft_data.py"), "--input_file", str(src),
            "--output_dir", str(out), "--sentences", str(SENT), "--base_url", srv.base_url,
            "--n", "3", "--api_key", "sk-SECRET-do-not-print",
        ]  # fmt: skip
        env = {**gen_env(), "PYTHONHASHSEED": hash_seed}
        proc = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=tmp_path)
        assert proc.returncode == 0, proc.stderr
        assert "SECRET" not in proc.stdout + proc.stderr
        assert "SECRET" not in (out / ".generation.json").read_text()
        assert "generate: 100%|" in proc.stderr and "24/24" in proc.stderr  # the tqdm bar
        prompts.append({k: r["meta"]["prompt"] for k, r in stored(out, "sub_math").items()})
    assert prompts[0] == prompts[1] and len(prompts[0]) == 4 * 2 * 3


# --- faults: recovered with retries, or recorded ---


@pytest.mark.parametrize("fault", ["429", "500", "503", "drop"])
def test_fault_recovered_by_retries(tmp_path, capsys, mock_server, fault):
    srv = mock_server(p_correct=1.0, script=(fault, fault), retry_after=0.2)
    out = tmp_path / "out"
    src = subset(tmp_path, 2)
    rc, stdout, _ = run(
        capsys, args(srv, out, "--input_file", str(src), "--n", "2", "--worker", "1")
    )
    assert rc == 0
    assert len(stored(out, "sub_math")) == 2 * 2 * 2 and not failures(out, "sub_math")
    assert srv.stats[fault] == 2
    assert generation_state(out)["timing"]["retries"] == 2


def test_retry_after_is_honoured(tmp_path, capsys, mock_server):
    srv = mock_server(p_correct=1.0, script=("429",), retry_after=1)
    src = subset(tmp_path, 1)
    t0 = time.monotonic()
    rc, _, _ = run(
        capsys, args(srv, tmp_path / "o", "--input_file", str(src), "--n", "1", "--worker", "1")
    )
    assert rc == 0 and time.monotonic() - t0 >= 1.0


def test_permanent_failure_recorded_and_exit_1(tmp_path, capsys, mock_server):
    srv = mock_server(p_500=1.0)
    out = tmp_path / "out"
    src = subset(tmp_path, 2)
    rc, stdout, err = run(
        capsys, args(srv, out, "--input_file", str(src), "--n", "2", "--max_retries", "1")
    )
    assert rc == 1
    fails = failures(out, "sub_math")
    assert len(fails) == 8 and all("HTTP 500" in f["error"] for f in fails)
    assert {(f["type"], f["problem_index"], f["sample_index"]) for f in fails} == {
        (t, p, s) for t in (SUBJECTIVE, MULTIPLE) for p in range(2) for s in range(2)
    }
    assert srv.stats["500"] == 8 * 2  # each request tried twice
    assert generation_state(out)["timing"]["failed"] == 8 and "failures.jsonl" in err
    assert not stored(out, "sub_math")


def test_slow_request_times_out_and_is_recorded(tmp_path, capsys, mock_server):
    srv = mock_server(p_slow=1.0, slow_seconds=3.0)
    out = tmp_path / "out"
    src = subset(tmp_path, 1)
    argv = args(srv, out, "--input_file", str(src), "--n", "1", "--timeout", "0.3")
    rc, stdout, _ = run(capsys, [*argv, "--max_retries", "0"])
    assert rc == 1
    fails = failures(out, "sub_math")
    assert len(fails) == 2 and all(f["error"].startswith("timeout") for f in fails)
    # A rerun once the server is healthy completes: failures are not stored samples.
    srv.update(p_slow=0.0)
    assert run(capsys, argv)[0] == 0
    assert len(stored(out, "sub_math")) == 2


@pytest.mark.parametrize("http", ["aiohttp", "httpx"])
def test_timeout_gets_one_more_attempt_then_names_the_limit(tmp_path, capsys, mock_server, http):
    # Replies slower than --timeout: not retried --max_retries times, but twice, then recorded.
    srv = mock_server(p_slow=1.0, slow_seconds=3.0)
    out = tmp_path / "out"
    src = ["--input_file", str(subset(tmp_path, 1)), "--n", "1", "--http", http]
    rc, stdout, _ = run(capsys, args(srv, out, *src, "--timeout", "0.5"))  # --max_retries 3
    assert rc == 1 and srv.stats["requests"] == 2 * 2
    assert [f["error"] for f in failures(out, "sub_math")] == [
        "timeout after 0.5 s (2 attempts); raise --request_timeout_s"
    ] * 2
    assert generation_state(out)["timing"]["retries"] == 2


@pytest.mark.parametrize("http", ["aiohttp", "httpx"])
def test_refused_connection_is_reported_as_refused_quickly(tmp_path, capsys, http):
    url = f"http://127.0.0.1:{free_port()}/v1"
    argv = ["--base_url", url, "--output_dir", str(tmp_path / "o"), "--max_retries", "0",
            "--input_file", str(subset(tmp_path, 1)), "--sentences", str(SENT), "--http", http]  # fmt: skip
    t0 = time.monotonic()
    rc, _, err = run(capsys, argv)
    assert rc == 2 and time.monotonic() - t0 < 5
    assert f"connection refused at {url}" in err and "Timeout" not in err
    # The same words when the server goes away after preflight, for a completion request.
    cfg = gen.config_from_args(gen.parse_args(argv))
    version = build_versions(load_problems(MATH)[0])[0]
    job = gen.Job(version, "1+1?", (0,))

    async def send_once():
        async def hook(request):
            pass

        ep = gen.Endpoint(url, cfg, hook)
        try:
            return await gen.send(ep, gen.request_body(cfg, "m", job), job)
        finally:
            await ep.client.close()

    result = asyncio.run(send_once())
    assert result.error == f"connection refused at {url}" and not result.timed_out


def test_failures_file_keeps_only_open_failures(tmp_path, capsys, mock_server):
    srv = mock_server(p_500=1.0)
    out = tmp_path / "out"
    argv = args(
        srv, out, "--input_file", str(subset(tmp_path, 2)), "--n", "2", "--max_retries", "0"
    )
    assert run(capsys, argv)[0] == 1 and len(failures(out, "sub_math")) == 8
    assert run(capsys, argv)[0] == 1  # failed again: still one line per sample, the newest
    fails = failures(out, "sub_math")
    assert len(fails) == 8 and len({f["generation_id"] for f in fails}) == 8
    srv.update(p_500=0.0, p_correct=1.0)
    rc, stdout, _ = run(capsys, argv)
    assert rc == 0 and len(stored(out, "sub_math")) == 8
    assert failures(out, "sub_math") == []  # every sample stored: no open failure is left
    report = json.loads((out / "report.json").read_text())
    assert report["totals"]["failures"] == 0


def test_length_truncation_kept_and_marked(tmp_path, capsys, mock_server):
    srv = mock_server(p_length=1.0, reasoning="reasoning")
    out = tmp_path / "out"
    src = subset(tmp_path, 2)
    rc, stdout, _ = run(capsys, args(srv, out, "--input_file", str(src), "--n", "1"))
    assert rc == 0
    got = stored(out, "sub_math")
    assert len(got) == 4
    assert all(
        r["meta"]["truncated"] and r["meta"]["finish_reason"] == "length" for r in got.values()
    )
    assert generation_state(out)["timing"]["truncated"] == 4


def test_cut_inside_the_reasoning_keeps_the_thought(tmp_path, capsys, mock_server):
    # max_tokens below the reasoning length: vLLM replies with content null + the partial thought.
    srv = mock_server(reasoning="reasoning_content", p_reasoning=1.0)
    out = tmp_path / "out"
    src = ["--input_file", str(subset(tmp_path, 2)), "--n", "1", "--max_tokens", "3"]
    assert run(capsys, args(srv, out, *src))[0] == 0
    for rec in stored(out, "sub_math").values():
        meta, reply = rec["meta"], rec["messages"][-1]["content"]
        assert meta["truncated"] and len(meta["reasoning"].split()) == 3
        assert reply == f"<think>\n{meta['reasoning']}\n</think>\n\n"


# --- resume ---


def test_kill_9_then_resume_completes_without_duplicates(tmp_path, capsys, mock_server):
    srv = mock_server(p_correct=1.0, latency=0.05)
    out = tmp_path / "out"
    src = subset(tmp_path, 6)
    argv = ["--input_file", str(src), "--n", "4", "--max_n", "1"]
    cmd = [
        sys.executable,
        str(ROOT / "generate_sft_data.py"),
        *args(srv, out, *argv, "--worker", "2"),
    ]
    proc = subprocess.Popen(cmd, env=gen_env(), cwd=tmp_path, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)  # fmt: skip
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and len(list(out.glob("*/*/*_*.jsonl"))) < 10:
        time.sleep(0.02)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    before = stored(out, "sub_math")  # every file present is one complete record
    total = 6 * 2 * 4
    assert 10 <= len(before) < total
    requests_before = srv.stats["requests"]
    assert run(capsys, args(srv, out, *argv))[0] == 0
    after = stored(out, "sub_math")
    assert len(after) == total
    assert srv.stats["requests"] - requests_before == total - len(before)  # nothing asked twice
    for key, rec in before.items():
        assert after[key] == rec  # stored samples untouched
    assert not list(out.rglob("*.tmp"))
    state = json.loads((out / ".generation.json").read_text())
    assert sum(r["skipped_existing"] for r in state["by_source_type"].values()) == len(before)
    # A third run has nothing left to do.
    assert run(capsys, args(srv, out, *argv))[0] == 0
    assert srv.stats["requests"] - requests_before == total - len(before)


# --- run signature: stored samples count as done only for the run that would produce them ---


def test_another_model_or_setting_stops_before_any_request(tmp_path, capsys, mock_server):
    demo, real = mock_server(p_correct=1.0), mock_server(p_correct=1.0, model="Qwen/Qwen3-8B")
    out = tmp_path / "sft_output"
    src = ["--input_file", str(subset(tmp_path, 2)), "--n", "2"]
    assert run(capsys, args(demo, out, *src))[0] == 0

    rc, _, err = run(capsys, args(real, out, *src, "--n", "8", "--model", "Qwen/Qwen3-8B"))
    assert rc == 2 and real.stats["requests"] == real.stats["models"] == 0  # not even preflight
    held = json.loads((out / "run_signature.json").read_text())
    assert held["mixed"] is False and held["signatures"][0]["model"] == "demo-model"
    assert f"{out} holds samples of another run" in err and "model demo-model" in err
    assert "differs in: model Qwen/Qwen3-8B" in err
    assert "--output_dir" in err and "--allow_mixed" in err
    # Without --model, right after preflight has named it; so for a setting that changes what
    # is sampled. n, worker and format do not.
    assert run(capsys, args(real, out, *src))[0] == 2 and real.stats["requests"] == 0
    before = demo.stats["requests"]
    assert run(capsys, args(demo, out, *src, "--temperature", "0.3"))[0] == 2
    assert demo.stats["requests"] == before  # the message's wording: the model's case above
    held = json.loads((out / "run_signature.json").read_text())["signatures"]
    assert len(held) == 1 and held[0]["temperature"] != 0.3  # the folder is left as it was
    assert (
        run(capsys, args(demo, out, *src, "--n", "3", "--worker", "2", "--format", "alpaca"))[0]
        == 0
    )
    assert demo.stats["requests"] - before == 2 * 2  # only sample 2 of each version is new

    # On purpose: the run goes ahead and the folder says it is mixed from then on.
    rc, stdout, _ = run(capsys, args(real, out, *src, "--n", "4", "--allow_mixed"))
    assert rc == 0 and json.loads((out / "report.json").read_text())["mixed"] is True
    assert "Mixed folder: samples of 2 runs" in stdout  # the message's one wording test
    models = {r["meta"]["model"] for r in stored(out, "sub_math").values()}
    assert models == {"demo-model", "Qwen/Qwen3-8B"}
    report = json.loads((out / "report.json").read_text())
    assert report["mixed"] is True and len(report["signatures"]) == 2
    assert run(capsys, args(real, out, *src, "--n", "4"))[0] == 0  # a run it holds: no flag needed
    assert json.loads((out / "run_signature.json").read_text())["mixed"] is True


def test_folder_from_before_signatures_is_judged_by_its_samples(tmp_path, capsys, mock_server):
    demo, real = mock_server(p_correct=1.0), mock_server(p_correct=1.0, model="Qwen/Qwen3-8B")
    out = tmp_path / "out"
    src = ["--input_file", str(subset(tmp_path, 1)), "--n", "1"]
    assert run(capsys, args(demo, out, *src))[0] == 0
    (out / "run_signature.json").unlink(missing_ok=True)  # as written by an older version

    rc, _, err = run(capsys, args(real, out, *src))
    assert rc == 2 and real.stats["requests"] == 0
    assert "2 of model demo-model" in err and "meta.model" in err and "--allow_mixed" in err
    assert not (out / "run_signature.json").exists()
    assert run(capsys, args(demo, out, *src, "--temperature", "0.2"))[0] == 0  # same model
    held = json.loads((out / "run_signature.json").read_text())
    assert held["adopted_from_samples"] is True and held["signatures"][0]["temperature"] == 0.2


# --- preflight and bad input: exit 2 before any request ---


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_preflight_unreachable(tmp_path, capsys):
    url = f"http://127.0.0.1:{free_port()}/v1"
    t0 = time.monotonic()
    rc, _, err = run(capsys, ["--base_url", url, "--output_dir", str(tmp_path / "o"),
                              "--data_dir", str(ROOT / "data"), "--no_progress"])  # fmt: skip
    assert rc == 2 and time.monotonic() - t0 < 10
    assert "cannot reach" in err and url in err


def test_preflight_unknown_model_lists_served(tmp_path, capsys, mock_server):
    srv = mock_server()
    rc, _, err = run(capsys, args(srv, tmp_path / "o", "--data_dir", str(ROOT / "data"),
                                  "--model", "no-such-model"))  # fmt: skip
    assert rc == 2 and "no-such-model" in err and "demo-model" in err
    assert srv.stats["requests"] == 0


def test_second_endpoint_down_load_goes_to_healthy_one(tmp_path, capsys, mock_server):
    srv = mock_server(p_correct=1.0)
    dead = f"http://127.0.0.1:{free_port()}/v1"
    out = tmp_path / "out"
    argv = args(srv, out, "--input_file", str(subset(tmp_path, 2)), "--n", "2")
    argv[argv.index("--base_url") + 1] = f"{dead},{srv.base_url}"
    rc, _, err = run(capsys, argv)
    assert rc == 0 and len(stored(out, "sub_math")) == 8 and dead in err


def test_two_healthy_endpoints_share_the_load(tmp_path, capsys, mock_server):
    a, b = mock_server(p_correct=1.0, latency=0.05), mock_server(p_correct=1.0, latency=0.05)
    out = tmp_path / "out"
    argv = args(a, out, "--input_file", str(subset(tmp_path, 4)), "--n", "4", "--max_n", "1")
    argv[argv.index("--base_url") + 1] = f"{a.base_url},{b.base_url}"
    rc, _, _ = run(capsys, argv)
    requests = a.stats["requests"], b.stats["requests"]
    assert rc == 0 and sum(requests) == 32 and len(stored(out, "sub_math")) == 32
    assert min(requests) >= 8, requests  # fewest in flight: both endpoints get a fair share


def test_exactly_worker_requests_in_flight(tmp_path, capsys, mock_server):
    srv = mock_server(p_correct=1.0, latency=0.5)  # long enough for all 5 to connect under load
    argv = args(srv, tmp_path / "out", "--input_file", str(subset(tmp_path, 2)), "--n", "6")
    argv[argv.index("--worker") + 1] = "5"
    assert run(capsys, [*argv, "--max_n", "1"])[0] == 0
    # Never more than --requests_in_flight at once, whatever the timing (how close the run gets
    # to 5 depends on the machine; bench/bench_generate.py measures that).
    assert srv.stats["requests"] == 24 and srv.stats["peak_inflight"] <= 5


def _open_files_limit(soft: int, hard: int):
    def apply():  # runs in the child before exec
        import resource

        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))

    return apply


def test_worker_beyond_the_soft_open_files_limit(tmp_path, mock_server):
    # A soft limit below --worker is raised when the hard limit allows; else exit 2 up front.
    srv = mock_server(p_correct=1.0, latency=1.0)
    out = tmp_path / "out"
    cmd = [
        sys.executable, str(ROOT / "generate_sft_data.py"), "--input_file",
        str(subset(tmp_path, 2)), "--output_dir", str(out), "--sentences", str(SENT),
        "--base_url", srv.base_url, "--n", "100", "--max_n", "1", "--worker", "400",
        "--no_progress",
    ]  # fmt: skip
    proc = subprocess.run(cmd, capture_output=True, text=True, env=gen_env(), cwd=tmp_path,
                          preexec_fn=_open_files_limit(256, 4096))  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-2000:]
    # More connections open at once than the soft limit of 256 files would have allowed.
    assert len(stored(out, "sub_math")) == 400 and srv.stats["peak_inflight"] > 256

    requests = srv.stats["requests"]
    cmd[cmd.index(str(out))] = str(tmp_path / "out2")
    proc = subprocess.run(cmd, capture_output=True, text=True, env=gen_env(), cwd=tmp_path,
                          preexec_fn=_open_files_limit(256, 512))  # fmt: skip
    assert proc.returncode == 2
    assert (
        "--requests_in_flight 400: needs about 656 open files" in proc.stderr
        and "only 512" in proc.stderr
    )
    assert srv.stats["requests"] == requests and not (tmp_path / "out2").exists()


def test_api_key_flag_then_environment_then_empty(tmp_path, capsys, mock_server, monkeypatch):
    srv = mock_server(p_correct=1.0, api_key="sk-right")
    src = ["--input_file", str(subset(tmp_path, 1)), "--n", "1"]
    monkeypatch.setenv("OPENAI_API_KEY", "sk-right")
    assert run(capsys, args(srv, tmp_path / "env", *src))[0] == 0
    monkeypatch.setenv("OPENAI_API_KEY", "sk-wrong")
    assert run(capsys, args(srv, tmp_path / "flag", *src, "--api_key", "sk-right"))[0] == 0
    assert srv.stats["completions"] == 4

    monkeypatch.delenv("OPENAI_API_KEY")  # falls back to "EMPTY", which this server refuses
    rc, _, err = run(capsys, args(srv, tmp_path / "none", *src))
    assert rc == 2 and "HTTP 401" in err and "--api_key" in err and "sk-right" not in err
    assert srv.stats["completions"] == 4 and not (tmp_path / "none" / "sub_math").exists()


# --- request parameters ---


SAMPLING = [
    "--temperature", "0.3", "--top_p", "0.8", "--max_tokens", "321", "--seed", "11",
    "--reasoning_effort", "high", "--extra_body", '{"top_k": 20, "repetition_penalty": 1.05}',
    "--system", "You are careful.",
]  # fmt: skip


def test_sampling_flags_reach_the_server_and_seeds_are_reproducible(tmp_path, capsys, mock_server):
    srv = mock_server(p_correct=1.0)
    src = ["--input_file", str(subset(tmp_path, 2)), "--n", "2", "--max_n", "1"]
    assert run(capsys, args(srv, tmp_path / "a", *src, *SAMPLING))[0] == 0
    first = srv.bodies
    assert len(first) == 8
    for body in first:
        assert body["temperature"] == 0.3 and body["top_p"] == 0.8 and body["max_tokens"] == 321
        assert body["reasoning_effort"] == "high"
        assert body["top_k"] == 20 and body["repetition_penalty"] == 1.05
        assert body["messages"][0] == {"role": "system", "content": "You are careful."}
        assert body["messages"][1]["role"] == "user" and "n" not in body
    seeds = sorted(b["seed"] for b in first)
    assert len(set(seeds)) == 8 and all(0 <= s < 2**31 for s in seeds)  # one per sample

    # The same flags into a new folder: the same (prompt, seed) pairs, so samples reproduce.
    assert run(capsys, args(srv, tmp_path / "b", *src, *SAMPLING))[0] == 0
    pairs = [
        {(b["messages"][1]["content"], b["seed"]) for b in run_} for run_ in (first, srv.bodies[8:])
    ]
    assert pairs[0] == pairs[1]

    # Defaults: temperature 0.7, top_p 0.95, nothing else sent.
    assert run(capsys, args(srv, tmp_path / "c", *src))[0] == 0
    for body in srv.bodies[16:]:
        assert (body["temperature"], body["top_p"]) == (0.7, 0.95)
        assert not {"seed", "max_tokens", "reasoning_effort", "top_k", "n"} & body.keys()
        assert [m["role"] for m in body["messages"]] == ["user"]


CHOICES = r"\begin{itemize} \item[1] $1$ \item[2] $2$ \item[3] $3$ \end{itemize}"


@pytest.mark.parametrize(
    "content, where",
    [
        ('{"problem": "1+1?", "answer": 2}\n{"problem": "2+2?", "answer": 4\n', ":2: invalid JSON"),
        ('{"problem": "1+1?"}\n', ":1: no gold: no answer field"),
        ('{"answer": 3}\n', ":1: missing a problem field"),
        (json.dumps({"problem": f"값은? {CHOICES}", "answer": 6}) + "\n", ":1: multiple-choice"),
        ("", ":1: no problems"),
    ],
)
def test_bad_input_file_exit_2_before_any_request(tmp_path, capsys, mock_server, content, where):
    srv = mock_server()
    folder = tmp_path / "data"
    folder.mkdir()
    (folder / "good_math.jsonl").write_text('{"problem": "1+1?", "answer": 2}\n', encoding="utf-8")
    bad = folder / "bad_math.jsonl"
    bad.write_text(content, encoding="utf-8")
    rc, _, err = run(capsys, args(srv, tmp_path / "o", "--data_dir", str(folder)))
    assert rc == 2 and f"{bad}{where}" in err
    assert srv.stats["requests"] == 0 and srv.stats["models"] == 0
    assert not (tmp_path / "o").exists()


def test_empty_folder_and_missing_file_exit_2(tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    rc, _, err = run(capsys, ["--data_dir", str(tmp_path / "empty"), "--output_dir", str(tmp_path)])
    assert rc == 2 and f"{tmp_path / 'empty'}: no problem files" in err
    rc, _, err = run(capsys, ["--input_file", str(tmp_path / "nope_math.jsonl")])
    assert rc == 2 and "nope_math.jsonl: no such file" in err


@pytest.mark.parametrize("name", ["merged", "sft_math_all", ".hidden"])
def test_source_names_of_merged_output_are_refused(tmp_path, capsys, name):
    src = subset(tmp_path, 1, name=name)
    rc, _, err = run(capsys, ["--input_file", str(src), "--output_dir", str(tmp_path / "o")])
    assert rc == 2 and f"{src}: the source name '{name}' is reserved" in err
    assert not (tmp_path / "o").exists()


# --- reasoning fields ---


@pytest.mark.parametrize("server_field", ["reasoning_content", "reasoning", "both"])
@pytest.mark.parametrize("mode", ["think_tags", "field", "drop"])
def test_reasoning_stored(tmp_path, capsys, mock_server, server_field, mode):
    srv = mock_server(p_correct=1.0, reasoning=server_field, p_reasoning=1.0)
    out = tmp_path / "out"
    src = subset(tmp_path, 1)
    assert (
        run(capsys, args(srv, out, "--input_file", str(src), "--n", "1", "--reasoning", mode))[0]
        == 0
    )
    for rec in stored(out, "sub_math").values():
        reasoning = rec["meta"]["reasoning"]
        assert reasoning and rec["meta"]["reasoning_mode"] == mode
        text = rec["messages"][-1]["content"]
        assert ("<think>" in text) == (mode == "think_tags") and "</think>" not in text[-20:]
        assert (rec["messages"][-1].get("reasoning_content") == reasoning) == (mode == "field")


# --- sampling control ---


def write_verdicts(out: Path, source: str, correct_for) -> None:
    """Grade every stored file the way the watcher logs it: correct_for(type, p, s) -> bool."""
    for (type_, p, s), _ in stored(out, source).items():
        ok = correct_for(type_, p, s)
        append_jsonl(out / source / f"{type_}_verdicts.jsonl", {
            "file": f"{p}_{s}.jsonl", "problem_index": p, "sample_index": s, "is_correct": ok,
            "extracted_answer": "x", "ground_truth": "x", "reason": "match_exact" if ok else "mismatch",
            "graded_at": time.time(),
        })  # fmt: skip


def test_k_correct_uses_verdict_log(tmp_path, capsys, mock_server):
    srv = mock_server(p_correct=1.0)
    out = tmp_path / "out"
    src = subset(tmp_path, 4)
    assert run(capsys, args(srv, out, "--input_file", str(src), "--n", "1"))[0] == 0
    write_verdicts(out, "sub_math", lambda t, p, s: p % 2 == 0)  # even problems correct
    requests = srv.stats["requests"]
    argv = args(srv, out, "--input_file", str(src), "--n", "3", "--k_correct", "1", "--max_n", "1")
    assert run(capsys, argv)[0] == 0
    got = stored(out, "sub_math")
    for type_ in (SUBJECTIVE, MULTIPLE):
        for p in range(4):
            samples = {s for (t, q, s) in got if (t, q) == (type_, p)}
            assert samples == ({0} if p % 2 == 0 else {0, 1, 2})
    assert srv.stats["requests"] - requests == 2 * 2 * 2
    state = json.loads((out / ".generation.json").read_text())
    assert state["k_correct"] == 1
    assert sum(r["skipped_k_correct"] for r in state["by_source_type"].values()) == 2 * 2 * 2


def test_k_correct_grades_itself_without_watcher(tmp_path, capsys, mock_server):
    srv = mock_server(p_correct=1.0, p_no_box=0.0)
    out = tmp_path / "out"
    src = subset(tmp_path, 3)
    argv = args(srv, out, "--input_file", str(src), "--n", "4", "--k_correct", "1", "--worker", "1")
    argv += ["--max_n", "1"]  # samples whose prompts coincide would share a request
    assert run(capsys, argv)[0] == 0
    got = stored(out, "sub_math")
    # One request at a time, breadth-first: sample 0 of each problem is graded correct before
    # sample 1 is due, so nothing beyond sample 0 is requested.
    assert set(got) == {(t, p, 0) for t in (SUBJECTIVE, MULTIPLE) for p in range(3)}
    assert srv.stats["requests"] == 6


def test_retry_zero_resamples_only_zero_correct(tmp_path, capsys, mock_server):
    srv = mock_server(p_correct=1.0)
    out = tmp_path / "out"
    src = subset(tmp_path, 4)
    assert run(capsys, args(srv, out, "--input_file", str(src), "--n", "2"))[0] == 0
    write_verdicts(out, "sub_math", lambda t, p, s: p % 2 == 0)  # odd problems: zero correct
    srv.update(p_correct=0.0)  # new samples are wrong: odd problems stay at zero
    argv = args(srv, out, "--input_file", str(src), "--n", "2", "--retry_zero", "2", "--max_n", "1")
    requests = srv.stats["requests"]
    rc, stdout, _ = run(capsys, argv)
    assert rc == 0
    got = stored(out, "sub_math")
    for type_ in (SUBJECTIVE, MULTIPLE):
        for p in range(4):
            samples = {s for (t, q, s) in got if (t, q) == (type_, p)}
            assert samples == ({0, 1} if p % 2 == 0 else set(range(6)))
    assert srv.stats["requests"] - requests == 2 * 2 * 4
    state = json.loads((out / ".generation.json").read_text())
    assert state["rounds_done"] == 2 and state["retry_zero"] == 2
    assert sum(r["retry_samples"] for r in state["by_source_type"].values()) == 2 * 2 * 4
    # Idempotent: the same command again requests nothing and overwrites nothing.
    before = got
    assert run(capsys, argv)[0] == 0
    assert srv.stats["requests"] - requests == 2 * 2 * 4
    assert stored(out, "sub_math") == before


def test_merge_only_runs_without_endpoint(tmp_path, capsys, sample_writer):
    sample_writer(tmp_path, "src", SUBJECTIVE, 0, 0, correct=True)
    rc, _, _ = run(capsys, ["--merge_only", "--output_dir", str(tmp_path), "--format", "alpaca"])
    assert rc == 0
    assert (tmp_path / "merged" / "sft_math_all_alpaca.jsonl").exists()
    report = json.loads((tmp_path / "report.json").read_text())
    assert [row["source"] for row in report["rows"]] == ["src"]


def test_same_prompt_batches_samples_with_n(tmp_path, capsys, mock_server):
    srv = mock_server(p_correct=1.0)
    out = tmp_path / "out"
    src = subset(tmp_path, 3)
    argv = args(srv, out, "--input_file", str(src), "--n", "4", "--same_prompt")
    assert run(capsys, argv)[0] == 0
    got = stored(out, "sub_math")
    assert len(got) == 3 * 2 * 4
    assert srv.stats["requests"] == 3 * 2  # one request with n=4 per problem version
    for (type_, p, _), rec in got.items():
        assert rec["meta"]["prompt"] == got[(type_, p, 0)]["meta"]["prompt"]
    # Resume asks only for what is missing, still batched.
    (out / "sub_math" / SUBJECTIVE / "0_1.jsonl").unlink()
    (out / "sub_math" / SUBJECTIVE / "0_3.jsonl").unlink()
    assert run(capsys, argv)[0] == 0
    assert srv.stats["requests"] == 3 * 2 + 1 and len(stored(out, "sub_math")) == 24


def test_failing_endpoint_mid_run_fails_over(tmp_path, capsys, mock_server):
    bad, good = mock_server(p_500=1.0), mock_server(p_correct=1.0)
    out = tmp_path / "out"
    argv = args(good, out, "--input_file", str(subset(tmp_path, 2)), "--n", "2")
    argv[argv.index("--base_url") + 1] = f"{bad.base_url},{good.base_url}"
    rc, stdout, _ = run(capsys, [*argv, "--max_retries", "0"])
    assert rc == 0 and len(stored(out, "sub_math")) == 8 and not failures(out, "sub_math")
    assert bad.stats["500"] >= 1  # it was tried, then rested while the healthy one took over


def test_verdict_log_read_incrementally(tmp_path, monkeypatch):
    from sftkit.common.jsonl import atomic_write_text

    monkeypatch.setattr(gen.Verdicts, "REFRESH_SECONDS", 0.0)
    version = build_versions(load_problems(MATH)[0])[1]
    stored_names = {"sample_math/multiples": SampleSet(["0_0.jsonl", "0_1.jsonl", "0_2.jsonl"])}
    book = gen.Verdicts(str(tmp_path), stored_names)
    log_path = tmp_path / "sample_math" / "multiples_verdicts.jsonl"
    assert book.correct(version) == 0  # no log yet

    def line(name, ok):
        return json.dumps({"file": name, "is_correct": ok}) + "\n"

    log_path.parent.mkdir(parents=True)
    log_path.write_text(line("0_0.jsonl", True) + line("0_1.jsonl", False) + '{"file": "0_2.js')
    assert book.correct(version) == 1  # the half-written last line is not read yet
    with log_path.open("a") as fh:
        fh.write('onl", "is_correct": true}\n' + line("0_1.jsonl", True))  # last line wins
    assert book.correct(version) == 3
    atomic_write_text(log_path, line("0_0.jsonl", False))  # rescan replaced the log
    assert book.correct(version) == 0


def test_instructions_fall_back_to_the_bundled_file(tmp_path):
    """A data folder with problem files only still runs, and says which instructions it used."""
    own = tmp_path / "data"
    own.mkdir()
    cfg = gen.config_from_args(gen.parse_args(["--data_dir", str(own)]))
    assert Path(cfg.sentences) == ROOT / "data" / "sentences_ask_boxed.jsonl"
    (own / "sentences_ask_boxed.jsonl").write_text('{"sent": "답을 \\\\boxed{}에 쓰시오."}\n')
    cfg = gen.config_from_args(gen.parse_args(["--data_dir", str(own)]))
    assert Path(cfg.sentences) == own / "sentences_ask_boxed.jsonl"
    cfg = gen.config_from_args(gen.parse_args(["--sentences", str(tmp_path / "none.jsonl")]))
    with pytest.raises(InputError, match="none.jsonl: no such file"):
        gen.load_inputs(cfg)
