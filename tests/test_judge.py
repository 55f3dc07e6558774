"""The optional judge, driven through the stand-in's judge mode: verdicts, the request it sends,
and every way it fails safe (error, timeout, a reply that is not YES or NO)."""

from __future__ import annotations

import json
import socket

import pytest

import generate_sft_data
from sftkit.common.jsonl import append_jsonl
from sftkit.demo.mock_model import MockConfig, judge_question
from sftkit.demo.mock_server import MockServer
from sftkit.grading.judge import (
    JudgeConfig,
    JudgeJob,
    build_messages,
    parse_reply,
    run_judge,
)
from sftkit.output import layout
from sftkit.output.judging import judge_output
from sftkit.output.selection import DEFAULT_SELECTION

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
@pytest.mark.e2e
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


@pytest.mark.e2e
def test_many_jobs_keep_their_order():
    jobs = [JudgeJob(f"k{i}", "Find x.", str(i), str(i + 1)) for i in range(12)]
    with MockServer(MockConfig(p_judge_yes=0.5)) as srv:
        results = run_judge(JudgeConfig(model="demo-model", base_url=srv.base_url), jobs)
        again = run_judge(JudgeConfig(model="demo-model", base_url=srv.base_url), jobs)
    assert [r.job.key for r in results] == [j.key for j in jobs]
    verdicts = [r.equivalent for r in results]
    assert set(verdicts) == {True, False}  # the stand-in's draw depends on the pair ...
    assert verdicts == [r.equivalent for r in again]  # ... and only on it


@pytest.mark.e2e
def test_a_server_error_leaves_no_verdict():
    with MockServer(MockConfig(p_judge_yes=1.0, script=("500", "500", "500"))) as srv:
        result = judge(srv, max_retries=1)
        assert srv.stats["500"] == 2  # the first try and the client's one retry
    assert result.equivalent is None and result.error.startswith("HTTP 500")


@pytest.mark.e2e
def test_a_retried_error_then_a_verdict():
    with MockServer(MockConfig(p_judge_yes=1.0, script=("503",), retry_after=0)) as srv:
        result = judge(srv, max_retries=2)
    assert result.equivalent is True


@pytest.mark.e2e
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


# --- at merge time: which samples are asked, what is merged, and the counts -------------------

SUBJ = "subjectives"
SOLUTION = "Many careful steps of working, then so the answer is"


def verdict_line(out, p: int, s: int, reason: str, extracted: str | None) -> None:
    """The watcher's verdict for src/subjectives/<p>_<s>.jsonl, stamped with the file's state."""
    path = layout.sample_path(out, "src", SUBJ, p, s)
    st = path.stat()
    line = {"file": path.name, "is_correct": False, "reason": reason, "extracted_answer": extracted}
    append_jsonl(
        layout.verdict_log(path.parent), line | {"mtime_ns": st.st_mtime_ns, "size": st.st_size}
    )


def rejected_tree(out, write) -> None:
    """0_0 correct; 0_1 mismatch (asked); 0_2 unparseable (asked); 0_3 no_box (never asked);
    0_4 mismatch but cut off (never asked); 0_5 mismatch but hedged (never asked)."""
    write(out, "src", SUBJ, 0, 0, content=f"{SOLUTION} \\boxed{{1/2}}", answer="1/2", prompt="Q")
    for s, content, reason, kw in [
        (1, f"{SOLUTION} \\boxed{{0.5000001}}", "mismatch", {}),
        (2, f"{SOLUTION} \\boxed{{\\frac{{1}}{{2}}}}", "unparseable", {}),
        (3, f"{SOLUTION} one half", "no_box", {}),
        (4, f"{SOLUTION} \\boxed{{0.50}} and more", "mismatch", {"truncated": True}),
        (5, f"{SOLUTION} \\boxed{{3}} or \\boxed{{0.5}}", "mismatch", {}),
    ]:
        write(out, "src", SUBJ, 0, s, correct=None, content=content, answer="1/2", prompt="Q", **kw)
        verdict_line(out, 0, s, reason, None if reason == "no_box" else f"x{s}")


def merged_ids(out) -> list[str]:
    path = out / "merged" / "sft_math_all_messages.jsonl"
    return [json.loads(line)["meta"]["generation_id"] for line in path.read_text().splitlines()]


@pytest.mark.e2e
def test_only_rule_rejections_the_filters_keep_go_to_the_judge(tmp_path, sample_writer):
    rejected_tree(tmp_path, sample_writer)
    with MockServer(MockConfig(p_judge_yes=1.0)) as srv:
        cfg = JudgeConfig(model="demo-model", base_url=srv.base_url)
        counts = judge_output(tmp_path, cfg, DEFAULT_SELECTION)
        asked = [b["messages"][-1]["content"] for b in srv.bodies]
        again = judge_output(tmp_path, cfg, DEFAULT_SELECTION)  # every verdict is kept
        assert srv.stats["completions"] == 2
    assert counts == {"asked": 2, "yes": 2, "no": 0, "errors": 0, "cached": 0}
    assert again == {"asked": 0, "yes": 0, "no": 0, "errors": 0, "cached": 2}
    assert sorted(judge_question(text)[1] for text in asked) == ["x1", "x2"]
    assert not any(SOLUTION in text for text in asked)  # the answer, not the solution
    log = (tmp_path / "src" / f"{SUBJ}_judge.jsonl").read_text().splitlines()
    lines = [json.loads(line) for line in log]
    assert {(x["file"], x["rule"], x["judge"]) for x in lines} == {
        ("0_1.jsonl", "mismatch", True),
        ("0_2.jsonl", "unparseable", True),
    }


@pytest.mark.parametrize("mode, merged", [("report", 1), ("accept", 3)])
@pytest.mark.e2e
def test_recovered_samples_merge_only_with_accept(tmp_path, sample_writer, mode, merged):
    rejected_tree(tmp_path, sample_writer)
    with MockServer(MockConfig(p_judge_yes=1.0)) as srv:
        flags = ["--merge_only", "--output_dir", str(tmp_path), "--judge_model", "demo-model"]
        flags += ["--judge_base_url", srv.base_url, "--judge", mode]
        assert generate_sft_data.main(flags) == 0
    assert len(merged_ids(tmp_path)) == merged
    recovered = (tmp_path / "merged" / "judge_recovered.jsonl").read_text().splitlines()
    assert [json.loads(x)["merged"] for x in recovered] == [mode == "accept"] * 2
    report = json.loads((tmp_path / "report.json").read_text())
    m = report["totals"]["merge"]
    assert (m["correct"], m["judge_recovered"], m["merged"]) == (1, 2, merged)
    assert m["considered"] == m["merged"] + m["filtered"] + m["duplicates"]
    assert report["merge"]["judge"] == mode


@pytest.mark.e2e
def test_a_failing_judge_leaves_the_rule_verdicts_and_is_asked_again(tmp_path, sample_writer):
    rejected_tree(tmp_path, sample_writer)
    flags = ["--merge_only", "--output_dir", str(tmp_path), "--judge_model", "demo-model"]
    flags += ["--judge", "accept"]
    with MockServer(MockConfig(p_judge_yes=1.0, p_500=1.0)) as srv:
        assert generate_sft_data.main([*flags, "--judge_base_url", srv.base_url]) == 0
    assert merged_ids(tmp_path) == ["src/subjectives/0_0"]  # the rule verdicts stand
    assert not (tmp_path / "merged" / "judge_recovered.jsonl").exists()
    with MockServer(MockConfig(p_judge_yes=1.0)) as srv:
        assert generate_sft_data.main([*flags, "--judge_base_url", srv.base_url]) == 0
        assert srv.stats["completions"] == 2  # the failed ones are asked again
    assert len(merged_ids(tmp_path)) == 3
