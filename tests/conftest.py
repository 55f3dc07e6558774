"""Shared fixtures. Only ADD fixtures here; several test files use them."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

SAMPLE_MATH = Path(__file__).resolve().parents[1] / "data" / "sample_math.jsonl"


def subset(tmp_path: Path, k: int, name: str = "sub_math") -> Path:
    """The first k bundled sample problems as their own source, <tmp>/in/<name>.jsonl (the
    stand-in endpoint still recognises them): subset(tmp_path, 2) -> tmp_path/in/sub_math.jsonl"""
    lines = [x for x in SAMPLE_MATH.read_text(encoding="utf-8").splitlines() if x.strip()][:k]
    path = tmp_path / "in" / f"{name}.jsonl"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


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
    from sftkit.common.jsonl import append_jsonl, atomic_write_jsonl
    from sftkit.output import layout
    from sftkit.output.formats import Conversation, add_answer_meta, render

    prompt = prompt if prompt is not None else f"{source} problem {p} ({type_})? sample {s}"
    content = content if content is not None else f"so the answer is \\boxed{{{answer}}} ({s})"
    meta = {
        "source": source,
        "problem_index": p,
        "problem_id": problem_id if problem_id is not None else f"id-{p}",
        "type": type_,
        "sample_index": s,
        "generation_id": layout.generation_id(source, type_, p, s),
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
    path = layout.sample_path(out, source, type_, p, s)
    atomic_write_jsonl(path, [record])
    if correct is None:
        return record
    reason = "match_exact" if correct else "mismatch"
    st = path.stat()
    verdict = {
        "file": path.name,
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
    append_jsonl(layout.verdict_log(path.parent), verdict)
    if correct:
        copy = layout.validated_record(record, verdict)
        atomic_write_jsonl(layout.validated_dir(path.parent) / path.name, [copy])
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
    from sftkit.demo.mock_server import MockConfig, MockServer

    started = []

    def start(**overrides):
        overrides.setdefault("data_dir", str(Path(__file__).resolve().parents[1] / "data"))
        srv = MockServer(MockConfig(**overrides)).start()
        started.append(srv)
        return srv

    yield start
    for srv in started:
        srv.stop()


# A ChatML template that renders `reasoning_content` in a think block, as Qwen3's does, and marks
# the assistant text with {% generation %} so assistant-only loss masks can be computed.
TINY_CHAT_TEMPLATE = (
    "{%- for message in messages -%}"
    "{%- if message['role'] == 'assistant' -%}"
    "{{- '<|im_start|>assistant\\n' -}}"
    "{%- generation -%}"
    "{%- if message.get('reasoning_content') -%}"
    "{{- '<think>\\n' + message['reasoning_content'] + '\\n</think>\\n\\n' -}}"
    "{%- endif -%}"
    "{{- message['content'] + '<|im_end|>\\n' -}}"
    "{%- endgeneration -%}"
    "{%- else -%}"
    "{{- '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>\\n' -}}"
    "{%- endif -%}"
    "{%- endfor -%}"
    "{%- if add_generation_prompt -%}{{- '<|im_start|>assistant\\n' -}}{%- endif -%}"
)


def build_tiny_tokenizer():
    """A transformers fast tokenizer built here (no hub download): byte-level BPE trained on the
    sample problems, ChatML special tokens, TINY_CHAT_TEMPLATE. `<think>` is NOT a special token.

    tiny_tokenizer.apply_chat_template([{"role": "user", "content": "1+1?"}], tokenize=False)
    -> "<|im_start|>user\n1+1?<|im_end|>\n"
    """
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    data = Path(__file__).resolve().parents[1] / "data"
    corpus = [line for p in sorted(data.glob("*.jsonl")) for line in p.read_text("utf-8").split()]
    bpe = Tokenizer(models.BPE())
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    bpe.decoder = decoders.ByteLevel()
    specials = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
    trainer = trainers.BpeTrainer(
        vocab_size=600,
        special_tokens=specials,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    bpe.train_from_iterator(corpus, trainer=trainer)
    tok = PreTrainedTokenizerFast(
        tokenizer_object=bpe,
        bos_token="<|im_start|>",
        eos_token="<|im_end|>",
        pad_token="<|endoftext|>",
    )
    tok.chat_template = TINY_CHAT_TEMPLATE
    return tok


@pytest.fixture(scope="session")
def tiny_tokenizer():
    """build_tiny_tokenizer(), built once per test session."""
    return build_tiny_tokenizer()


@pytest.fixture(scope="session")
def load_dataset(tmp_path_factory):
    """datasets.load_dataset, imported once, offline, with a throwaway cache:
    load_dataset("json", data_files=str(path), split="train")."""
    os.environ["HF_DATASETS_OFFLINE"] = "1"
    os.environ["HF_DATASETS_CACHE"] = str(tmp_path_factory.mktemp("hf_cache"))
    import datasets

    datasets.disable_progress_bars()
    return datasets.load_dataset


@pytest.fixture(scope="session")
def versions():
    """Every version (subjective, multiple) of every problem in data/sample_math.jsonl."""
    from sftkit.inputs.problems import build_versions, load_problems

    data = Path(__file__).resolve().parents[1] / "data"
    return [v for p in load_problems(data / "sample_math.jsonl") for v in build_versions(p)]


@pytest.fixture(scope="session")
def sentences():
    """The boxed-answer instructions of data/sentences_ask_boxed.jsonl, as build_prompt takes them."""
    from sftkit.inputs.problems import load_sentences

    return load_sentences(
        Path(__file__).resolve().parents[1] / "data" / "sentences_ask_boxed.jsonl"
    )


@pytest.fixture(autouse=True)
def _restore_generate_logger():
    """generate_sft_data.main() gives the "generate" logger its own handler and stops it
    propagating; a test that runs it in-process must not hide later tests' logs from caplog."""
    import logging

    logger = logging.getLogger("generate")
    saved = (list(logger.handlers), logger.propagate, logger.level)
    yield
    logger.handlers[:] = saved[0]
    logger.propagate = saved[1]
    logger.setLevel(saved[2])


# The end-to-end tier: a test that starts the stand-in endpoint is e2e wherever it lives, so a new
# one cannot slow the unit tier (`pytest -m "not e2e"`) by accident. Tests that run the CLIs,
# the launcher or worker processes carry @pytest.mark.e2e (or their module's pytestmark).
E2E_FIXTURES = {"mock_server"}


def pytest_collection_modifyitems(config, items):
    for item in items:
        if E2E_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.e2e)


UNIT_SECONDS = 1.0  # a unit-tier test slower than this is listed at the end of the run
_slow_units: list[tuple[float, str]] = []


def pytest_runtest_logreport(report):
    if report.when == "call" and report.duration > UNIT_SECONDS and "e2e" not in report.keywords:
        _slow_units.append((report.duration, report.nodeid))


def pytest_terminal_summary(terminalreporter):
    """Keep the unit tier fast: name each slow test it holds (mark it e2e if it runs a CLI, a
    server or worker processes)."""
    if _slow_units:
        terminalreporter.section(f"unit-tier tests over {UNIT_SECONDS:g} s (not marked e2e)")
        for seconds, nodeid in sorted(_slow_units, reverse=True):
            terminalreporter.write_line(f"{seconds:6.2f}s {nodeid}")
