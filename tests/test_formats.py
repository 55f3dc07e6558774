r"""Formats: every shape round-trips, think tags stay balanced, grading sees the final text only."""

from __future__ import annotations

import pytest

from sftkit.output.formats import (
    FORMATS,
    REASONING_MODES,
    Conversation,
    add_answer_meta,
    final_text,
    parse,
    render,
    split_reasoning,
    with_system,
)

CONV = Conversation(prompt="1+1? \\boxed{} 안에", content="답은 \\boxed{2}", reasoning="1+1 is 2")


def assistant_text(record: dict) -> str:
    if "messages" in record:
        return record["messages"][-1]["content"]
    if "completion" in record:
        return record["completion"][-1]["content"]
    if "conversations" in record:
        return record["conversations"][-1]["value"]
    return record.get("output", record.get("solution"))


def assert_balanced(text: str) -> None:
    """Either no think tags, or exactly one `<think>` at the start and one `</think>` after it."""
    opens, closes = text.count("<think>"), text.count("</think>")
    assert (opens, closes) in ((0, 0), (1, 1)), text
    if opens:
        assert text.startswith("<think>\n") and text.index("<think>") < text.index("</think>")
        assert "</think>\n\n" in text


# --- shapes ---


def test_sharegpt_is_the_real_sharegpt_shape():
    rec = render(with_system(CONV, "You are a tutor."), "sharegpt", "drop")
    assert rec == {
        "conversations": [
            {"from": "human", "value": CONV.prompt},
            {"from": "gpt", "value": "답은 \\boxed{2}"},
        ],
        "system": "You are a tutor.",
    }


def test_messages_is_the_openai_chat_shape():
    rec = render(with_system(CONV, "sys"), "messages", "drop")
    assert [m["role"] for m in rec["messages"]] == ["system", "user", "assistant"]
    assert rec["messages"][1]["content"] == CONV.prompt
    assert "system" not in render(CONV, "messages", "drop")["messages"][0]["role"]


def test_prompt_completion_is_trls_conversational_shape_with_system_in_the_prompt():
    rec = render(with_system(CONV, "sys"), "prompt_completion", "think_tags")
    assert rec == {
        "prompt": [{"role": "system", "content": "sys"}, {"role": "user", "content": CONV.prompt}],
        "completion": [{"role": "assistant", "content": assistant_text(rec)}],
    }
    assert assistant_text(rec) == "<think>\n1+1 is 2\n</think>\n\n답은 \\boxed{2}"
    # Without a system prompt the prompt is the user turn alone; the record is the messages
    # record cut before the assistant turn.
    plain = render(CONV, "prompt_completion", "field")
    messages = render(CONV, "messages", "field")["messages"]
    assert plain == {"prompt": messages[:1], "completion": messages[1:]}
    assert plain["completion"][0]["reasoning_content"] == "1+1 is 2"


def test_prompt_completion_keeps_answer_and_meta_and_reads_back_from_them():
    # The generator's meta also has a "prompt" (the text): it must not be taken for the turns.
    meta = {"source": "s", "prompt": "not this", "reasoning": "r"}
    rec = add_answer_meta(render(CONV, "prompt_completion", "drop"), "prompt_completion", 2, meta)
    assert list(rec) == ["prompt", "completion", "answer", "meta"]
    conv = parse(rec)
    assert (conv.prompt, conv.content, conv.reasoning) == (CONV.prompt, CONV.content, "r")
    assert final_text(rec) == CONV.content


def test_alpaca_keeps_the_exact_prompt_and_empty_input():
    rec = render(CONV, "alpaca", "drop")
    assert rec == {"instruction": CONV.prompt, "input": "", "output": "답은 \\boxed{2}"}


def test_simple_gets_answer_source_and_generation_id():
    meta = {"source": "s", "generation_id": "s/subjectives/0_1", "sample_index": 1}
    rec = add_answer_meta(render(CONV, "simple", "drop"), "simple", 2, meta)
    assert rec["problem"] == CONV.prompt and rec["solution"] == "답은 \\boxed{2}"
    assert (rec["answer"], rec["source"], rec["generation_id"]) == (2, "s", "s/subjectives/0_1")
    assert rec["meta"] == meta


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("mode", REASONING_MODES)
def test_every_format_and_mode_round_trips(fmt, mode):
    conv = with_system(CONV, "sys") if fmt != "simple" else CONV
    back = parse(render(conv, fmt, mode))
    assert back.prompt == conv.prompt and back.content == conv.content
    assert back.reasoning == (None if mode == "drop" else conv.reasoning)
    assert back.system == conv.system


def test_unknown_format_or_mode_is_rejected():
    with pytest.raises(ValueError, match="unknown format"):
        render(CONV, "chatml")
    with pytest.raises(ValueError, match="unknown reasoning mode"):
        render(CONV, "messages", "inline")


# --- reasoning modes ---


def test_think_tags_put_reasoning_before_the_answer():
    text = assistant_text(render(CONV, "messages", "think_tags"))
    assert text == "<think>\n1+1 is 2\n</think>\n\n답은 \\boxed{2}"


def test_field_mode_stores_reasoning_content_beside_the_answer():
    rec = render(CONV, "messages", "field")
    assert rec["messages"][-1] == {
        "role": "assistant",
        "content": "답은 \\boxed{2}",
        "reasoning_content": "1+1 is 2",
    }
    assert render(CONV, "alpaca", "field")["reasoning_content"] == "1+1 is 2"
    assert render(CONV, "sharegpt", "field")["conversations"][-1]["reasoning_content"] == "1+1 is 2"


def test_no_reasoning_means_no_think_block_at_all():
    conv = Conversation(prompt="p", content="\\boxed{1}")
    for mode in REASONING_MODES:
        rec = render(conv, "messages", mode)
        assert rec["messages"][-1] == {"role": "assistant", "content": "\\boxed{1}"}


# --- think balance: where the server put the reasoning ---
@pytest.mark.parametrize(
    "turn, reasoning, final",
    [
        ({"content": "\\boxed{3}", "reasoning_content": "x=3"}, "x=3", "\\boxed{3}"),
        ({"content": "\\boxed{3}", "reasoning": "x=3"}, "x=3", "\\boxed{3}"),
        ({"content": "<think>x=3</think>\n\n\\boxed{3}"}, "x=3", "\\boxed{3}"),
        ({"content": "x=3</think>\\boxed{3}"}, "x=3", "\\boxed{3}"),  # opening tag eaten
        ({"content": "<think>x=3</think>\\boxed{3}", "reasoning": "x=3"}, "x=3", "\\boxed{3}"),
        ({"content": "<think>b</think>\\boxed{3}", "reasoning": "a"}, "a\n\nb", "\\boxed{3}"),
        ({"content": "<think><think>x=3</think></think>\\boxed{3}"}, "x=3", "\\boxed{3}"),  # nested
        ({"content": "<think>a</think><think>b</think>\\boxed{3}"}, "a\n\nb", "\\boxed{3}"),  # dup
        ({"content": "<think>a</think>b</think>\\boxed{3}"}, "a\n\nb", "\\boxed{3}"),  # lone close
        ({"content": "<think>x=3, so the ans"}, "x=3, so the ans", ""),  # truncated, unclosed
        ({"content": "<think>a</think>\\boxed{3} <think>more"}, "a\n\nmore", "\\boxed{3}"),
        ({"content": "\\boxed{3}", "reasoning_content": "<think>x=3</think>"}, "x=3", "\\boxed{3}"),
        ({"content": "\\boxed{3}"}, None, "\\boxed{3}"),
    ],
)
@pytest.mark.parametrize("fmt", ["messages", "sharegpt", "prompt_completion"])
def test_think_tags_balanced_whatever_the_server_sent(turn, reasoning, final, fmt):
    record = {"messages": [{"role": "user", "content": "p"}, {"role": "assistant", **turn}]}
    conv = parse(record)
    assert (conv.reasoning, conv.content) == (reasoning, final)
    assert final_text(record) == final
    text = assistant_text(render(conv, fmt, "think_tags"))
    assert_balanced(text)
    assert text.endswith(final)
    # The rendered record reads back to the same split: rendering is a fixed point.
    assert parse(render(conv, fmt, "think_tags")) == conv


def test_render_cleans_tags_left_in_a_hand_built_conversation():
    conv = Conversation(prompt="p", content="x</think>\\boxed{1}", reasoning="<think>y")
    text = assistant_text(render(conv, "alpaca", "think_tags"))
    assert text == "<think>\ny\n\nx\n</think>\n\n\\boxed{1}"
    assert_balanced(text)
    assert "think>" not in assistant_text(render(conv, "alpaca", "drop"))
    assert "think>" not in render(conv, "alpaca", "field")["reasoning_content"]


def test_split_reasoning_examples():
    assert split_reasoning("<think>a</think>\n\n\\boxed{1}") == ("a", "\\boxed{1}")
    assert split_reasoning(None, "  ") == (None, "")


# --- grading sees final content only ---
@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("mode", REASONING_MODES)
def test_final_text_never_includes_reasoning(fmt, mode):
    conv = Conversation(prompt="p", content="\\boxed{7}", reasoning="maybe \\boxed{5}")
    assert final_text(render(conv, fmt, mode)) == "\\boxed{7}"


def test_meta_reasoning_is_used_only_when_the_record_has_none():
    dropped = add_answer_meta(render(CONV, "alpaca", "drop"), "alpaca", 2, {"reasoning": "r"})
    assert parse(dropped).reasoning == "r"
    kept = add_answer_meta(render(CONV, "alpaca", "think_tags"), "alpaca", 2, {"reasoning": "r"})
    assert parse(kept).reasoning == "1+1 is 2"
    assert final_text(dropped) == final_text(kept) == "답은 \\boxed{2}"


@pytest.mark.parametrize(
    "record",
    [
        {},
        {"messages": []},
        {"messages": "x"},
        {"output": 3},
        [],
        {"prompt": [{"role": "user", "content": "p"}], "completion": []},
        {"prompt": "p", "completion": "\\boxed{1}"},  # TRL's plain-text shape: not ours
    ],
)
def test_parse_returns_none_without_an_assistant_text(record):
    assert parse(record) is None and final_text(record) is None
