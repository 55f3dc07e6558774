"""Shared fixtures. Only ADD fixtures here; several test files use them."""

from __future__ import annotations

from pathlib import Path

import pytest


def write_sample(
    out: Path,
    source: str,
    type_: str,
    p: int,
    s: int,
    *,
    correct: bool | None = True,
    fmt: str = "messages",
    mode: str = "think_tags",
    prompt: str | None = None,
    content: str | None = None,
    reasoning: str | None = "think it through",
    answer=3,
    truncated: bool = False,
    usage: tuple[int, int] = (10, 20),
    problem_id: str | None = None,
    model: str = "mock-model",
) -> dict:
    r"""Write one sample file as the generator does and, if graded, its verdict line and (when
    correct) its validated copy as the watcher does. Returns the stored record.

    write_sample(tmp_path, "src", "subjectives", 2, 0) -> <tmp>/src/subjectives/2_0.jsonl holding a
    `messages` record whose assistant text is "<think>...</think>\n\n... \boxed{3}".
    """
    from sftkit.formats import Conversation, add_answer_meta, render
    from sftkit.jsonl import append_jsonl, atomic_write_jsonl

    prompt = prompt if prompt is not None else f"{source} problem {p} ({type_})? sample {s}"
    content = content if content is not None else f"so the answer is \\boxed{{{answer}}} ({s})"
    meta = {
        "source": source,
        "problem_index": p,
        "problem_id": problem_id if problem_id is not None else f"id-{p}",
        "type": type_,
        "sample_index": s,
        "generation_id": f"{source}/{type_}/{p}_{s}",
        "model": model,
        "prompt": prompt,
        "finish_reason": "length" if truncated else "stop",
        "truncated": truncated,
        "usage": {"prompt_tokens": usage[0], "completion_tokens": usage[1]},
        "reasoning": reasoning,
        "format": fmt,
        "reasoning_mode": mode,
        "created": 1700000000.0,
    }
    conv = Conversation(prompt=prompt, content=content, reasoning=reasoning)
    record = add_answer_meta(render(conv, fmt, mode), fmt, answer, meta)
    name = f"{p}_{s}.jsonl"
    atomic_write_jsonl(out / source / type_ / name, [record])
    if correct is None:
        return record
    reason = "match_exact" if correct else "mismatch"
    st = (out / source / type_ / name).stat()
    verdict = {
        "file": name,
        "problem_index": p,
        "sample_index": s,
        "is_correct": correct,
        "extracted_answer": str(answer),
        "ground_truth": answer,
        "reason": reason,
        "graded_at": 1700000000.0,
        "mtime_ns": st.st_mtime_ns,  # the stamp of the graded content, as the watcher keeps it
        "size": st.st_size,
    }
    append_jsonl(out / source / f"{type_}_verdicts.jsonl", verdict)
    if correct:
        copy = {**record, "meta": {**meta, "verdict": reason, "extracted_answer": str(answer)}}
        atomic_write_jsonl(out / source / f"{type_}_validated" / name, [copy])
    return record


@pytest.fixture
def sample_writer():
    """write_sample(out, source, type, p, s, correct=..., ...) -> stored record (see above)."""
    return write_sample


@pytest.fixture
def mock_server():
    """Factory for started stand-in endpoints, each stopped at teardown.

    srv = mock_server(p_correct=1.0, latency=0.0) -> MockServer; srv.base_url ->
    "http://127.0.0.1:PORT/v1". Keyword arguments are MockConfig fields; data_dir defaults to
    the repo's data/ so tests do not depend on the working directory.
    """
    from sftkit.mock_server import MockConfig, MockServer

    started = []

    def start(**overrides):
        overrides.setdefault("data_dir", str(Path(__file__).resolve().parents[1] / "data"))
        srv = MockServer(MockConfig(**overrides)).start()
        started.append(srv)
        return srv

    yield start
    for srv in started:
        srv.stop()
