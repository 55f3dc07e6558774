r"""Training record formats: render a conversation as sharegpt / messages / prompt_completion /
alpaca / simple, and read any of them back.

Pipeline order: split_reasoning() -> render() -> add_answer_meta() ... parse() -> final_text().

Formats (what each trainer reads):
    sharegpt  {"conversations": [{"from": "human", "value": p}, {"from": "gpt", "value": a}],
               "system": s (only when set)}                       LLaMA-Factory, FastChat
    messages  {"messages": [{"role": "system"...}?, {"role": "user"...}, {"role": "assistant"...}]}
              OpenAI chat shape: TRL SFTTrainer, axolotl `chat_template`. The original shell tool
              wrote this shape under the name "sharegpt".
    prompt_completion
              {"prompt": [{"role": "system"...}?, {"role": "user"...}],
               "completion": [{"role": "assistant"...}]}
              TRL's conversational prompt/completion shape: SFTTrainer computes the loss on the
              completion only (completion_only_loss defaults to on for this shape).
    alpaca    {"instruction": p, "input": "", "output": a, "system": s (only when set)}
    simple    {"problem": p, "solution": a, "answer", "source", "generation_id"}
Every stored record also carries `answer` and `meta` (see ARCHITECTURE.md); trainers ignore them.

Reasoning modes:
    think_tags  "<think>\n{reasoning}\n</think>\n\n{answer}" - both tags or none, never a lone
                `</think>`. A sample without reasoning is written as the answer alone, with no
                empty think block: an empty block would teach the model to skip thinking.
    field       `reasoning_content` beside the assistant text (axolotl), text has no tags.
    drop        the answer alone.
Stray think tags in the reasoning or the answer are always moved out or removed, so a record
rendered here is balanced whatever the server sent.

Usage:
    conv = Conversation(prompt="1+1?", content="\boxed{2}", reasoning="1+1 is 2")
    record = render(conv, "messages", "think_tags")
    # {"messages": [{"role": "user", ...}, {"role": "assistant",
    #   "content": "<think>\n1+1 is 2\n</think>\n\n\boxed{2}"}]}
    final_text(record) -> "\boxed{2}"   # the grader never sees the reasoning
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass

FORMATS = ("sharegpt", "messages", "prompt_completion", "alpaca", "simple")
REASONING_MODES = ("think_tags", "field", "drop")
THINK_OPEN, THINK_CLOSE = "<think>", "</think>"
_TAG = re.compile(r"</?think>")


@dataclass(frozen=True)
class Conversation:
    prompt: str
    content: str  # the final answer text, reasoning removed
    reasoning: str | None = None
    system: str | None = None


def _add_pieces(parts: list[str], text: str | None) -> None:
    # Nested or repeated tags inside reasoning carry no meaning: keep the text between them.
    for piece in _TAG.split(text or ""):
        piece = piece.strip()
        if piece and piece not in parts:
            parts.append(piece)


def split_reasoning(content: str | None, reasoning: str | None = None) -> tuple[str | None, str]:
    r"""Separate think-tag reasoning from the final answer; returns (reasoning, final).

    "<think>a</think>\n\n\boxed{1}" -> ("a", "\boxed{1}")
    "a</think>\boxed{1}" -> ("a", "\boxed{1}")      (server ate the opening tag)
    "<think>a ... (cut off)" -> ("a ... (cut off)", "")  (unclosed: no final answer)
    ("<think>a</think>\boxed{1}", "a") -> ("a", "\boxed{1}")  (same text in field and tags: once)
    The final text never contains a think tag.
    """
    content = content or ""
    parts: list[str] = []
    _add_pieces(parts, reasoning)
    close = content.rfind(THINK_CLOSE)
    if close != -1:
        _add_pieces(parts, content[:close])
        content = content[close + len(THINK_CLOSE) :]
    opened = content.find(THINK_OPEN)
    if opened != -1:
        # An unclosed block is reasoning cut off by max_tokens: nothing after it is an answer.
        _add_pieces(parts, content[opened:])
        content = content[:opened]
    joined = "\n\n".join(parts)
    return (joined or None), content.strip()


def _assistant_text(reasoning: str | None, content: str, reasoning_mode: str) -> str:
    if reasoning_mode == "think_tags" and reasoning:
        return f"{THINK_OPEN}\n{reasoning}\n{THINK_CLOSE}\n\n{content}"
    return content


def render(conv: Conversation, fmt: str, reasoning_mode: str = "think_tags") -> dict:
    """Build one training record (without `answer`/`meta`: see add_answer_meta)."""
    if fmt not in FORMATS:
        raise ValueError(f"unknown format {fmt!r}; choose one of {', '.join(FORMATS)}")
    if reasoning_mode not in REASONING_MODES:
        raise ValueError(
            f"unknown reasoning mode {reasoning_mode!r}; choose one of {', '.join(REASONING_MODES)}"
        )
    # Re-split so tags left in conv.content or conv.reasoning can never unbalance the output.
    reasoning, content = split_reasoning(conv.content, conv.reasoning)
    text = _assistant_text(reasoning, content, reasoning_mode)
    field = {"reasoning_content": reasoning} if reasoning_mode == "field" and reasoning else {}
    if fmt == "sharegpt":
        record = {
            "conversations": [
                {"from": "human", "value": conv.prompt},
                {"from": "gpt", "value": text, **field},
            ]
        }
        if conv.system:
            record["system"] = conv.system
        return record
    if fmt in ("messages", "prompt_completion"):
        system = [{"role": "system", "content": conv.system}] if conv.system else []
        prompt = [*system, {"role": "user", "content": conv.prompt}]
        answer = {"role": "assistant", "content": text, **field}
        if fmt == "messages":
            return {"messages": [*prompt, answer]}
        return {"prompt": prompt, "completion": [answer]}
    if fmt == "alpaca":
        record = {"instruction": conv.prompt, "input": "", "output": text, **field}
        if conv.system:
            record["system"] = conv.system
        return record
    return {"problem": conv.prompt, "solution": text, **field}


def add_answer_meta(record: dict, fmt: str, answer, meta: dict) -> dict:
    """Append the gold `answer` and `meta` (and, for `simple`, `source` and `generation_id`).

    add_answer_meta({"problem": "1+1?", "solution": "\\boxed{2}"}, "simple", 2,
                    {"source": "s", "generation_id": "s/subjectives/0_0"})
    -> {..., "answer": 2, "source": "s", "generation_id": "s/subjectives/0_0", "meta": {...}}
    """
    out = {**record, "answer": answer}
    if fmt == "simple":
        out["source"] = meta.get("source")
        out["generation_id"] = meta.get("generation_id")
    out["meta"] = meta
    return out


def _last_turn(turns, role_key, content_key, roles) -> tuple[str | None, dict | None]:
    if not isinstance(turns, list):
        return None, None
    for turn in reversed(turns):
        if isinstance(turn, dict) and turn.get(role_key) in roles:
            value = turn.get(content_key)
            return (value if isinstance(value, str) else None), turn
    return None, None


def _given_reasoning(holder: dict) -> str | None:
    # vLLM renamed `reasoning_content` to `reasoning`; accept either, first non-empty wins.
    for key in ("reasoning_content", "reasoning"):
        value = holder.get(key)
        if isinstance(value, str) and value.strip():
            return value
    return None


def parse(record: dict) -> Conversation | None:
    """Read a record of any format back into a Conversation; None if it has no assistant turn.

    Reasoning comes from the assistant turn's `reasoning_content`/`reasoning` field and from think
    tags in its text; when neither has any, `meta.reasoning` (kept by the generator) is used, so a
    sample stored with `--reasoning drop` can still be merged with reasoning.
    """
    if not isinstance(record, dict):
        return None
    extra = record
    if "messages" in record:
        msgs = record["messages"]
        prompt, _ = _last_turn(msgs, "role", "content", ("user",))
        content, extra = _last_turn(msgs, "role", "content", ("assistant",))
        system, _ = _last_turn(msgs, "role", "content", ("system",))
    elif "completion" in record:
        turns = record.get("prompt")
        prompt, _ = _last_turn(turns, "role", "content", ("user",))
        content, extra = _last_turn(record["completion"], "role", "content", ("assistant",))
        system, _ = _last_turn(turns, "role", "content", ("system",))
    elif "conversations" in record:
        convs = record["conversations"]
        prompt, _ = _last_turn(convs, "from", "value", ("human", "user"))
        content, extra = _last_turn(convs, "from", "value", ("gpt", "assistant"))
        system = record.get("system")
        if system is None:
            system, _ = _last_turn(convs, "from", "value", ("system",))
    elif "output" in record:
        prompt, content, system = (
            record.get("instruction"),
            record.get("output"),
            record.get("system"),
        )
        if isinstance(prompt, str) and isinstance(record.get("input"), str) and record["input"]:
            prompt = f"{prompt}\n\n{record['input']}"
    elif "solution" in record:
        prompt, content, system = record.get("problem"), record.get("solution"), None
    else:
        return None
    if not isinstance(content, str):
        return None
    reasoning, final = split_reasoning(content, _given_reasoning(extra or {}))
    meta = record.get("meta")
    if reasoning is None and isinstance(meta, dict):
        reasoning, _ = split_reasoning("", _given_reasoning(meta))
    return Conversation(
        prompt=prompt if isinstance(prompt, str) else "",
        content=final,
        reasoning=reasoning,
        system=system if isinstance(system, str) and system else None,
    )


def with_system(conv: Conversation, system: str | None) -> Conversation:
    """The same conversation with `system` replaced; None keeps the stored one."""
    return conv if system is None else dataclasses.replace(conv, system=system or None)


def final_text(record: dict) -> str | None:
    r"""The assistant's final content, reasoning removed: what the grader reads.

    {"solution": "<think>x=2?</think>\boxed{3}"} -> "\boxed{3}"
    """
    conv = parse(record)
    return conv.content if conv else None


def raw_assistant_text(record: dict) -> str | None:
    """The assistant text of a record of any format exactly as stored, think tags included
    (parse() re-splits and balances them; the filters need to see them as they are).

    {"messages": [{"role": "user", ...}, {"role": "assistant", "content": "a</think>b"}]} ->
    "a</think>b"
    """
    if not isinstance(record, dict):
        return None
    if "messages" in record:
        return _last_turn(record["messages"], "role", "content", ("assistant",))[0]
    if "completion" in record:
        return _last_turn(record["completion"], "role", "content", ("assistant",))[0]
    if "conversations" in record:
        return _last_turn(record["conversations"], "from", "value", ("gpt", "assistant"))[0]
    text = record.get("output", record.get("solution"))
    return text if isinstance(text, str) else None
