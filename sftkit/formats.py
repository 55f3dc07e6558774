r"""Training record formats: render a conversation as sharegpt / messages / alpaca / simple,
and read any of them back.

Pipeline order: split_reasoning() -> render() ... parse() -> final_text().

Usage:
    conv = Conversation(prompt="1+1?", content="\boxed{2}", reasoning="1+1 is 2")
    record = render(conv, "messages", "think_tags")
    # {"messages": [{"role": "user", ...}, {"role": "assistant",
    #   "content": "<think>\n1+1 is 2\n</think>\n\n\boxed{2}"}]}
    final_text(record) -> "\boxed{2}"   # the grader never sees the reasoning
"""

from __future__ import annotations

from dataclasses import dataclass

FORMATS = ("sharegpt", "messages", "alpaca", "simple")
REASONING_MODES = ("think_tags", "field", "drop")
THINK_OPEN, THINK_CLOSE = "<think>", "</think>"


@dataclass(frozen=True)
class Conversation:
    prompt: str
    content: str  # the final answer text, reasoning removed
    reasoning: str | None = None
    system: str | None = None


def split_reasoning(content: str | None, reasoning: str | None = None) -> tuple[str | None, str]:
    """Separate think-tag reasoning from the final answer; returns (reasoning, final).

    "<think>a</think>\n\n\boxed{1}" -> ("a", "\boxed{1}")
    "a</think>\boxed{1}" -> ("a", "\boxed{1}")      (server ate the opening tag)
    "<think>a ... (cut off)" -> ("a ... (cut off)", "")  (unclosed: no final answer)
    """
    content = content or ""
    parts = [reasoning.strip()] if reasoning and reasoning.strip() else []
    close = content.rfind(THINK_CLOSE)
    if close != -1:
        inner = content[:close].replace(THINK_OPEN, "").replace(THINK_CLOSE, "").strip()
        if inner:
            parts.append(inner)
        content = content[close + len(THINK_CLOSE) :]
    elif THINK_OPEN in content:
        head, _, inner = content.partition(THINK_OPEN)
        if inner.strip():
            parts.append(inner.strip())
        content = head
    joined = "\n\n".join(parts)
    return (joined or None), content.strip()


def _assistant_text(conv: Conversation, reasoning_mode: str) -> str:
    if reasoning_mode == "think_tags" and conv.reasoning:
        return f"{THINK_OPEN}\n{conv.reasoning.strip()}\n{THINK_CLOSE}\n\n{conv.content}"
    return conv.content


def render(conv: Conversation, fmt: str, reasoning_mode: str = "think_tags") -> dict:
    """Build one training record (without `answer`/`meta`, which the caller adds)."""
    if fmt not in FORMATS:
        raise ValueError(f"unknown format {fmt!r}; choose one of {', '.join(FORMATS)}")
    if reasoning_mode not in REASONING_MODES:
        raise ValueError(f"unknown reasoning mode {reasoning_mode!r}")
    text = _assistant_text(conv, reasoning_mode)
    field = {"reasoning_content": conv.reasoning} if reasoning_mode == "field" and conv.reasoning else {}
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
    if fmt == "messages":
        system = [{"role": "system", "content": conv.system}] if conv.system else []
        return {
            "messages": [
                *system,
                {"role": "user", "content": conv.prompt},
                {"role": "assistant", "content": text, **field},
            ]
        }
    if fmt == "alpaca":
        record = {"instruction": conv.prompt, "input": "", "output": text, **field}
        if conv.system:
            record["system"] = conv.system
        return record
    return {"problem": conv.prompt, "solution": text, **field}


def _last_turn(turns, role_key, content_key, roles) -> tuple[str | None, dict | None]:
    if not isinstance(turns, list):
        return None, None
    for turn in reversed(turns):
        if isinstance(turn, dict) and turn.get(role_key) in roles:
            value = turn.get(content_key)
            return (value if isinstance(value, str) else None), turn
    return None, None


def parse(record: dict) -> Conversation | None:
    """Read a record of any format back into a Conversation; None if it has no assistant turn."""
    if not isinstance(record, dict):
        return None
    extra = record
    if "messages" in record:
        msgs = record["messages"]
        prompt, _ = _last_turn(msgs, "role", "content", ("user",))
        content, extra = _last_turn(msgs, "role", "content", ("assistant",))
        system, _ = _last_turn(msgs, "role", "content", ("system",))
    elif "conversations" in record:
        convs = record["conversations"]
        prompt, _ = _last_turn(convs, "from", "value", ("human", "user"))
        content, extra = _last_turn(convs, "from", "value", ("gpt", "assistant"))
        system = record.get("system")
    elif "output" in record:
        prompt, content, system = record.get("instruction"), record.get("output"), record.get("system")
    elif "solution" in record:
        prompt, content, system = record.get("problem"), record.get("solution"), None
    else:
        return None
    if not isinstance(content, str):
        return None
    extra = extra or {}
    given = extra.get("reasoning_content") or extra.get("reasoning")
    reasoning, final = split_reasoning(content, given if isinstance(given, str) else None)
    return Conversation(
        prompt=prompt if isinstance(prompt, str) else "",
        content=final,
        reasoning=reasoning,
        system=system if isinstance(system, str) else None,
    )


def final_text(record: dict) -> str | None:
    r"""The assistant's final content, reasoning removed: what the grader reads.

    {"solution": "<think>x=2?</think>\boxed{3}"} -> "\boxed{3}"
    """
    conv = parse(record)
    return conv.content if conv else None
