"""The optional judge, driven through the stand-in's judge mode: verdicts, the request it sends,
and every way it fails safe (error, timeout, a reply that is not YES or NO)."""

from __future__ import annotations

import socket

import pytest

from sftkit.demo.mock_model import MockConfig, judge_question
from sftkit.demo.mock_server import MockServer
from sftkit.grading.judge import (
    JudgeConfig,
    JudgeJob,
    build_messages,
    parse_reply,
    run_judge,
)

JOB = JudgeJob("s/subjectives/0_1.jsonl", "Find sin 45 degrees.", "\\frac{\\sqrt2}{2}", "1/\\sqrt2")


def judge(srv: MockServer, job: JudgeJob = JOB, **kw) -> object:
    cfg = JudgeConfig(model="demo-model", base_url=srv.base_url, **kw)
    return run_judge(cfg, [job])[0]


@pytest.mark.parametrize(
    "reply, expected",
    [("YES", True), ("Yes.", True), ("**NO**", False), ("no", False), ("YES or NO", None),
     ("I think yes", None), ("", None), (None, None)],
)  # fmt: skip
def test_parse_reply(reply, expected):
    assert parse_reply(reply) is expected


def test_the_request_holds_problem_gold_and_answer_only():
    messages = build_messages("Find x.", "1/2", "0.5")
    user = messages[-1]["content"]
    assert "Find x." in user and "Reference answer: 1/2" in user
    assert "Candidate answer: 0.5" in user
    assert judge_question(user) == ("1/2", "0.5")  # what the stand-in reads back


@pytest.mark.parametrize("p_yes, expected", [(1.0, True), (0.0, False)])
def test_verdicts_and_request_shape(p_yes, expected):
    with MockServer(MockConfig(p_judge_yes=p_yes)) as srv:
        result = judge(srv)
        body = srv.bodies[-1]
    assert result.equivalent is expected and result.error is None
    assert body["chat_template_kwargs"] == {"enable_thinking": False}
    assert body["max_tokens"] <= 16 and body["temperature"] == 0.0
    assert body["model"] == "demo-model"
    text = " ".join(m["content"] for m in body["messages"])
    assert JOB.problem in text and JOB.gold in text and JOB.extracted in text


def test_many_jobs_keep_their_order():
    jobs = [JudgeJob(f"k{i}", "Find x.", str(i), str(i + 1)) for i in range(12)]
    with MockServer(MockConfig(p_judge_yes=0.5)) as srv:
        results = run_judge(JudgeConfig(model="demo-model", base_url=srv.base_url), jobs)
        again = run_judge(JudgeConfig(model="demo-model", base_url=srv.base_url), jobs)
    assert [r.job.key for r in results] == [j.key for j in jobs]
    verdicts = [r.equivalent for r in results]
    assert set(verdicts) == {True, False}  # the stand-in's draw depends on the pair ...
    assert verdicts == [r.equivalent for r in again]  # ... and only on it


def test_a_server_error_leaves_no_verdict():
    with MockServer(MockConfig(p_judge_yes=1.0, script=("500", "500", "500"))) as srv:
        result = judge(srv, max_retries=1)
        assert srv.stats["500"] == 2  # the first try and the client's one retry
    assert result.equivalent is None and result.error.startswith("HTTP 500")


def test_a_retried_error_then_a_verdict():
    with MockServer(MockConfig(p_judge_yes=1.0, script=("503",), retry_after=0)) as srv:
        result = judge(srv, max_retries=2)
    assert result.equivalent is True


def test_a_timeout_leaves_no_verdict():
    cfg = MockConfig(p_judge_yes=1.0, p_slow=1.0, slow_seconds=3.0)
    with MockServer(cfg) as srv:
        result = judge(srv, timeout=0.3, max_retries=0)
    assert result.equivalent is None and "timeout" in result.error


def test_a_reply_that_is_not_yes_or_no_leaves_no_verdict():
    with MockServer(MockConfig(judge_reply="They look equivalent to me.")) as srv:
        result = judge(srv)
    assert result.equivalent is None
    assert result.reply == "They look equivalent to me." and "not YES or NO" in result.error


def test_an_unreachable_judge_leaves_no_verdict():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again below: nothing listens there
    cfg = JudgeConfig(model="m", base_url=f"http://127.0.0.1:{port}/v1", max_retries=0)
    result = run_judge(cfg, [JOB])[0]
    assert result.equivalent is None and "Connection" in result.error
