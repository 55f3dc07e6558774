r"""The stand-in endpoint, exercised through the real `openai` client over loopback.

Answers are checked with test_mock_model's independent checker (`boxed`, `same`), not with the
model's own rendering tables.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import openai
import pytest
from test_mock_model import boxed, same

from sftkit.inputs.problems import build_prompt

pytestmark = pytest.mark.e2e  # runs the CLIs, servers or worker processes for real

REPO = Path(__file__).resolve().parents[1]
DATA = REPO / "data"
MODEL = "demo-model"


def client(srv, **kw) -> openai.OpenAI:
    kw.setdefault("max_retries", 0)
    kw.setdefault("timeout", 10)
    return openai.OpenAI(base_url=srv.base_url, api_key="test", **kw)


def ask(c, prompt: str, **kw):
    return c.chat.completions.create(
        model=MODEL, messages=[{"role": "user", "content": prompt}], **kw
    )


# --- protocol ---


def test_models_list(mock_server):
    srv = mock_server(model="my-model")
    models = client(srv).models.list()
    assert [m.id for m in models.data] == ["my-model"]


def test_n_choices_usage_and_finish_reason(mock_server, versions, sentences):
    srv = mock_server(p_correct=1.0, p_no_box=0.0)
    prompt = build_prompt(versions[1], sentences, 0)
    resp = ask(client(srv), prompt, n=4)
    assert [c.index for c in resp.choices] == [0, 1, 2, 3]
    assert all(c.finish_reason == "stop" and boxed(c.message.content) for c in resp.choices)
    assert resp.model == MODEL and resp.object == "chat.completion"
    # Completion tokens include the reasoning, as a reasoning model's usage does.
    words = sum(
        len(c.message.content.split())
        + len((c.message.model_extra.get("reasoning_content") or "").split())
        for c in resp.choices
    )
    assert resp.usage.completion_tokens == words
    assert resp.usage.prompt_tokens == len(prompt.split())
    assert resp.usage.total_tokens == resp.usage.prompt_tokens + resp.usage.completion_tokens
    assert srv.stats["completions"] == 1 and srv.stats["choices"] == 4


def test_correct_answers_are_correct_for_their_problem(mock_server, versions, sentences):
    srv = mock_server(p_correct=1.0, p_no_box=0.0)

    async def run():
        async with openai.AsyncOpenAI(base_url=srv.base_url, api_key="t", max_retries=0) as ac:
            return await asyncio.gather(
                *(
                    ac.chat.completions.create(
                        model=MODEL,
                        messages=[{"role": "user", "content": build_prompt(v, sentences, i)}],
                        n=3,
                    )
                    for i, v in enumerate(versions)
                )
            )

    for version, resp in zip(versions, asyncio.run(run()), strict=True):
        for choice in resp.choices:
            answer = boxed(choice.message.content)
            assert answer is not None and same(answer, version), (version.problem.id, answer)
    assert srv.stats["correct"] == 3 * len(versions)


def test_wrong_answers_are_wrong_and_no_box_has_no_box(mock_server, versions, sentences):
    srv = mock_server(p_correct=0.0, p_no_box=0.0)
    c = client(srv)
    for i, version in enumerate(versions[:20]):
        answer = boxed(ask(c, build_prompt(version, sentences, i)).choices[0].message.content)
        assert answer is not None and not same(answer, version), (version.problem.id, answer)
    srv.update(p_no_box=1.0, p_correct=1.0)
    resp = ask(c, build_prompt(versions[0], sentences, 0), n=5)
    assert all("\\boxed" not in ch.message.content for ch in resp.choices)
    assert srv.stats["wrong"] == 20 and srv.stats["no_box"] == 5


def test_p_correct_is_roughly_honoured(mock_server, versions, sentences):
    srv = mock_server(p_correct=0.7, p_no_box=0.0, seed=3)
    resp = ask(client(srv), build_prompt(versions[4], sentences, 0), n=100)
    hits = sum(same(boxed(ch.message.content), versions[4]) for ch in resp.choices)
    assert 55 <= hits <= 85


def test_seed_makes_output_reproducible(mock_server, versions, sentences):
    srv = mock_server(p_correct=0.5)
    c = client(srv)
    prompt = build_prompt(versions[7], sentences, 2)
    texts = lambda r: [ch.message.content for ch in r.choices]  # noqa: E731
    first = texts(ask(c, prompt, n=4, seed=11))
    assert texts(ask(c, prompt, n=4, seed=11)) == first
    others = {tuple(texts(ask(c, prompt, n=4, seed=s))) for s in range(12, 16)}
    assert any(o != tuple(first) for o in others)
    other = mock_server(p_correct=0.5)  # a fresh server gives the same answer for the same seed
    assert texts(ask(client(other), prompt, n=4, seed=11)) == first


def test_answers_do_not_depend_on_arrival_order(mock_server, versions, sentences):
    prompts = [build_prompt(v, sentences, 0) for v in versions[:6]]
    a, b = client(mock_server(p_correct=0.5)), client(mock_server(p_correct=0.5))
    first = {p: ask(a, p).choices[0].message.content for p in prompts}
    second = {p: ask(b, p).choices[0].message.content for p in reversed(prompts)}
    assert first == second
    again = {p: ask(a, p).choices[0].message.content for p in prompts}
    assert again != first  # asking again (a retry) draws a new answer


def test_unknown_prompt_gets_a_polite_reply_without_box(mock_server):
    srv = mock_server(p_correct=1.0, p_no_box=0.0)
    reply = ask(client(srv), "What is the capital of France?").choices[0].message.content
    assert "\\boxed" not in reply and "stand-in" in reply
    assert srv.stats["unknown"] == 1


def test_prompt_with_system_message_and_content_parts(mock_server, versions, sentences):
    srv = mock_server(p_correct=1.0, p_no_box=0.0)
    version = versions[24]  # problem 13: a 보기 problem, subjective version
    messages = [
        {"role": "system", "content": "You are a helpful assistant."},
        {
            "role": "user",
            "content": [{"type": "text", "text": build_prompt(version, sentences, 1)}],
        },
    ]
    resp = client(srv).chat.completions.create(model=MODEL, messages=messages)
    assert same(boxed(resp.choices[0].message.content), version)


def test_streaming_matches_non_streaming_and_reports_usage(mock_server, versions, sentences):
    srv = mock_server(p_correct=0.6)
    c = client(srv)
    prompt = build_prompt(versions[3], sentences, 0)
    plain = ask(c, prompt, n=2, seed=7)
    stream = ask(c, prompt, n=2, seed=7, stream=True, stream_options={"include_usage": True})
    text, finish, usage = {0: "", 1: ""}, {}, None
    for chunk in stream:
        assert chunk.object == "chat.completion.chunk"
        if chunk.usage is not None:
            assert chunk.choices == []
            usage = chunk.usage
        for ch in chunk.choices:
            text[ch.index] += ch.delta.content or ""
            if ch.finish_reason:
                finish[ch.index] = ch.finish_reason
    assert text == {i: ch.message.content for i, ch in enumerate(plain.choices)}
    assert finish == {0: "stop", 1: "stop"}
    assert usage is not None and usage.completion_tokens == plain.usage.completion_tokens


def test_stream_without_usage_option_has_no_usage_chunk(mock_server, versions, sentences):
    srv = mock_server()
    chunks = list(ask(client(srv), build_prompt(versions[0], sentences, 0), stream=True))
    assert all(ch.usage is None and ch.choices for ch in chunks)


@pytest.mark.parametrize("mode", ["reasoning_content", "reasoning", "both"])
def test_reasoning_fields(mock_server, versions, sentences, mode):
    srv = mock_server(reasoning=mode, p_reasoning=1.0)
    c = client(srv)
    prompt = build_prompt(versions[0], sentences, 0)
    extra = ask(c, prompt, seed=3).choices[0].message.model_extra
    wanted = {"reasoning_content", "reasoning"} if mode == "both" else {mode}
    assert {k for k in ("reasoning_content", "reasoning") if extra.get(k)} == wanted
    streamed = {k: "" for k in wanted}
    for chunk in ask(c, prompt, stream=True, seed=3):
        for ch in chunk.choices:
            for k in wanted:
                streamed[k] += (ch.delta.model_extra or {}).get(k) or ""
    assert all(streamed[k] == extra[k] for k in wanted)


def test_by_default_a_share_of_replies_carry_reasoning_content(mock_server, versions, sentences):
    srv = mock_server()
    c = client(srv)

    def thoughts(seed: int) -> list[bool]:
        replies = [ask(c, build_prompt(v, sentences, 0), seed=seed, n=2) for v in versions[:10]]
        extras = [ch.message.model_extra for r in replies for ch in r.choices]
        assert not any("reasoning" in e for e in extras)  # only the field vLLM's parser uses
        return [bool(e.get("reasoning_content")) for e in extras]

    first = thoughts(seed=1)
    assert 0.2 < sum(first) / len(first) < 0.8, first  # p_reasoning 0.5 of 20 replies
    assert thoughts(seed=1) == first  # decided by the request seed, not by arrival order
    srv.update(reasoning="none")
    assert not any(thoughts(seed=1))
    srv.update(reasoning="reasoning_content", p_reasoning=1.0)
    assert all(thoughts(seed=1))


def test_reasoning_share_leaves_the_answers_as_they_were(mock_server, versions, sentences):
    """Whether a reply thinks is drawn apart: a seed's answers are the same with and without."""
    prompt = build_prompt(versions[3], sentences, 0)
    contents = []
    for p in (0.0, 1.0):
        srv = mock_server(p_reasoning=p)
        contents.append(
            [ch.message.content for ch in ask(client(srv), prompt, seed=7, n=4).choices]
        )
    assert contents[0] == contents[1]


def test_unknown_model_is_404_in_openai_shape(mock_server):
    srv = mock_server()
    with pytest.raises(openai.NotFoundError) as err:
        client(srv).chat.completions.create(
            model="nope", messages=[{"role": "user", "content": "hi"}]
        )
    assert err.value.status_code == 404 and err.value.code == "model_not_found"


def test_api_key_required_like_vllm(mock_server):
    srv = mock_server(api_key="sk-right")
    for key in ("sk-wrong", "test"):
        c = openai.OpenAI(base_url=srv.base_url, api_key=key, max_retries=0, timeout=10)
        with pytest.raises(openai.AuthenticationError):
            c.models.list()
        with pytest.raises(openai.AuthenticationError):
            ask(c, "hi")
    good = openai.OpenAI(base_url=srv.base_url, api_key="sk-right", max_retries=0, timeout=10)
    assert [m.id for m in good.models.list().data] == [MODEL]
    assert ask(good, "hi").choices[0].message.content
    stats = srv.stats
    assert stats["unauthorized"] == 4 and stats["requests"] == 3 and stats["completions"] == 1


@pytest.mark.parametrize(
    "body, status",
    [
        (b"{not json", 400),
        (b'{"model": "demo-model"}', 400),
        (b'{"model": "demo-model", "messages": [{"role": "user", "content": "x"}], "n": 0}', 400),
    ],
)
def test_bad_requests_are_400(mock_server, body, status):
    srv = mock_server()
    req = urllib.request.Request(
        f"{srv.base_url}/chat/completions", data=body, headers={"Content-Type": "application/json"}
    )
    with pytest.raises(urllib.error.HTTPError) as err:
        urllib.request.urlopen(req, timeout=5)
    assert err.value.code == status
    assert "message" in json.loads(err.value.read())["error"]


# --- faults ---


def test_429_retry_after_is_honoured_then_succeeds(mock_server, versions, sentences):
    srv = mock_server(script=("429",), retry_after=1, p_no_box=0.0)
    prompt = build_prompt(versions[0], sentences, 0)
    started = time.monotonic()
    resp = ask(client(srv, max_retries=2), prompt)
    assert time.monotonic() - started >= 0.9  # the client waited Retry-After, not its 0.5 s backoff
    assert boxed(resp.choices[0].message.content)
    assert srv.stats["429"] == 1 and srv.stats["completions"] == 1


def test_429_without_retries_raises_with_header(mock_server):
    srv = mock_server(script=("429",), retry_after=2)
    with pytest.raises(openai.RateLimitError) as err:
        ask(client(srv), "hi")
    assert err.value.response.headers["retry-after"] == "2"


def test_500_and_503(mock_server):
    srv = mock_server(script=("500", "503"), retry_after=0.1)
    c = client(srv)
    with pytest.raises(openai.InternalServerError) as err:
        ask(c, "hi")
    assert err.value.status_code == 500
    with pytest.raises(openai.APIStatusError) as err:
        ask(c, "hi")
    assert err.value.status_code == 503 and err.value.response.headers["retry-after"] == "0.1"
    assert ask(c, "hi").choices[0].finish_reason == "stop"  # script used up: normal again
    srv.update(script=("503", "500"))
    assert ask(client(srv, max_retries=2), "hi").choices  # retried through both
    assert srv.stats["500"] == 2 and srv.stats["503"] == 2


def test_dropped_connection_is_a_connection_error(mock_server):
    srv = mock_server(script=("drop",))
    with pytest.raises(openai.APIConnectionError) as err:
        ask(client(srv), "hi")
    assert not isinstance(err.value, openai.APITimeoutError)
    assert srv.stats["drop"] == 1
    assert ask(client(srv), "hi").choices


def test_slow_request_times_out(mock_server):
    srv = mock_server(script=("slow",), slow_seconds=6.0)
    c = client(srv, timeout=0.3)
    started = time.monotonic()
    with pytest.raises(openai.APITimeoutError):
        ask(c, "hi")
    assert time.monotonic() - started < 5  # gave up at the timeout, did not wait for the reply
    assert srv.stats["slow"] == 1


def test_length_truncation_has_no_complete_box(mock_server, versions, sentences):
    srv = mock_server(script=("length", "length"), p_no_box=0.0, p_reasoning=1.0)
    c = client(srv)
    prompt = build_prompt(versions[2], sentences, 0)
    resp = ask(c, prompt, n=2)
    assert [ch.finish_reason for ch in resp.choices] == ["length", "length"]
    assert all(boxed(ch.message.content) is None for ch in resp.choices)
    chunks = list(ask(c, prompt, stream=True))
    assert chunks[-1].choices[0].finish_reason == "length"
    capped = ask(c, prompt, max_tokens=5)
    assert capped.choices[0].finish_reason == "length" and capped.usage.completion_tokens == 5
    assert capped.choices[0].message.content is None  # cut inside the reasoning, as vLLM
    assert capped.choices[0].message.reasoning_content
    srv.update(reasoning="none")
    capped = ask(c, prompt, max_tokens=12)
    assert capped.choices[0].finish_reason == "length" and capped.usage.completion_tokens <= 12
    assert capped.choices[0].message.content and boxed(capped.choices[0].message.content) is None
    assert ask(c, prompt, max_tokens=4000).choices[0].finish_reason == "stop"


def test_random_faults_are_deterministic_given_seed(mock_server):
    def statuses(srv):
        out, c = [], client(srv)
        for i in range(20):
            try:
                ask(c, f"question {i}")
                out.append(200)
            except openai.APIStatusError as exc:
                out.append(exc.status_code)
        return out

    a = statuses(mock_server(p_429=0.3, p_500=0.3, seed=5, retry_after=0))
    b = statuses(mock_server(p_429=0.3, p_500=0.3, seed=5, retry_after=0))
    assert a == b and {200, 429, 500} <= set(a)


def test_latency_with_jitter_is_applied(mock_server):
    c = client(mock_server(latency=0.3, jitter=0.1))
    for i in range(3):
        started = time.monotonic()
        ask(c, f"hi {i}")
        assert 0.2 <= time.monotonic() - started < 5


def test_many_concurrent_async_requests(mock_server, versions, sentences):
    srv = mock_server(latency=0.2)

    async def run():
        async with openai.AsyncOpenAI(base_url=srv.base_url, api_key="t", max_retries=0) as ac:
            calls = [
                ac.chat.completions.create(
                    model=MODEL,
                    messages=[
                        {
                            "role": "user",
                            "content": build_prompt(versions[i % len(versions)], sentences, i),
                        }
                    ],
                )
                for i in range(200)
            ]
            return await asyncio.gather(*calls)

    results = asyncio.run(run())
    assert len(results) == 200 and all(r.choices[0].message.content for r in results)
    # Served concurrently, not one 0.2 s sleep after another: the server counted them in flight
    # together while the replies waited.
    assert 100 <= srv.stats["peak_inflight"] <= 200


# --- CLI ---


def test_cli_writes_port_file_serves_and_stops_on_sigterm(tmp_path):
    port_file = tmp_path / "url.txt"
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    cmd = [sys.executable, "-m", "sftkit.demo.mock_server", "--data_dir", str(DATA), "--port", "0",
           "--port_file", str(port_file), "--model", "cli-model", "--script", "429"]  # fmt: skip
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        deadline = time.monotonic() + 15
        while not port_file.exists() and time.monotonic() < deadline:
            assert proc.poll() is None, proc.stderr.read()
            time.sleep(0.05)
        url = port_file.read_text().strip()
        assert re.fullmatch(r"http://127\.0\.0\.1:\d+/v1", url)
        c = openai.OpenAI(base_url=url, api_key="t", max_retries=0)
        assert [m.id for m in c.models.list().data] == ["cli-model"]
        with pytest.raises(openai.RateLimitError):
            c.chat.completions.create(
                model="cli-model", messages=[{"role": "user", "content": "x"}]
            )
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err
    assert f"mock server listening on {url}" in out


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--reasoning", "x"], "reasoning must be one of"),
        (["--p_reasoning", "1.5"], "p_reasoning must be within [0, 1]"),
        (["--script", "429,teapot"], "unknown script step"),
        (["--data_dir", "{tmp}/missing"], "missing: data_dir is not a directory"),
        (["--data_dir", "{tmp}"], "bad_math.jsonl:2: invalid JSON"),
    ],
)
def test_cli_rejects_bad_settings_naming_the_problem(tmp_path, extra, message):
    good = (DATA / "sample_math.jsonl").read_text(encoding="utf-8").splitlines()[0]
    (tmp_path / "bad_math.jsonl").write_text(good + "\n{oops\n", encoding="utf-8")
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    cmd = [sys.executable, "-m", "sftkit.demo.mock_server", "--data_dir", str(DATA), "--port", "0"]
    cmd += [e.format(tmp=tmp_path) for e in extra]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=30)
    assert proc.returncode == 2 and message in proc.stderr, proc.stderr


def test_cli_port_in_use_exits_1(mock_server):
    busy = mock_server()
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    cmd = [sys.executable, "-m", "sftkit.demo.mock_server", "--data_dir", str(DATA),
           "--port", str(busy.port)]  # fmt: skip
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=30)
    assert proc.returncode == 1 and f"cannot listen on 127.0.0.1:{busy.port}" in proc.stderr
