"""One chat-completion request: its body, and send() that never raises.

await send(ep, request_body(cfg, model, job), job) -> Result(choices=[...]) or
Result(error="HTTP 500: ..."); a reply later than --timeout -> Result(timed_out=True); a 200
whose body holds no usable choice -> Result(malformed=True, error="malformed reply: no choices").
"""

from __future__ import annotations

import json

from sftkit.generation.config import Config
from sftkit.generation.endpoints import Endpoint, describe_connection_error
from sftkit.generation.plan import Job, Result
from sftkit.inputs.problems import stable_hash

# --------------------------------------------------------------------------- requests


def request_body(cfg: Config, model: str, job: Job) -> dict:
    """The chat completion request: {"model", "messages": [system?, user], "temperature",
    "top_p", "n" (only when > 1), "max_tokens"?, "seed"?, "reasoning_effort"?, **extra_body}."""
    messages = [{"role": "system", "content": cfg.system}] if cfg.system else []
    messages.append({"role": "user", "content": job.prompt})
    body: dict = {
        "model": model,
        "messages": messages,
        "temperature": cfg.temperature,
        "top_p": cfg.top_p,
    }
    if len(job.samples) > 1:
        body["n"] = len(job.samples)
    if cfg.max_tokens is not None:
        body["max_tokens"] = cfg.max_tokens
    if cfg.seed is not None:
        p = job.version.problem
        body["seed"] = (
            cfg.seed + stable_hash(p.source, p.index, job.version.type, job.samples[0])
        ) % (2**31)
    if cfg.reasoning_effort:
        body["reasoning_effort"] = cfg.reasoning_effort
    if cfg.extra_body:
        body.update(cfg.extra_body)
    return body


def parse_reply(raw: bytes) -> tuple[dict, str | None]:
    """(the 200 reply's JSON object, what is wrong with it or None). A proxy or a crashing server
    can answer 200 with a body that carries no sample: such a reply is retried like a 5xx (see
    Runner.worker) and never stored.

    b'{"choices": [{"mess' -> ({}, "cut-off JSON body");  b'{"choices": []}' -> (..., "no
    choices");  b'{"choices": [{"message": {"content": null}}]}' -> (..., "content null with no
    reasoning")
    """
    try:
        data = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        return {}, "cut-off JSON body" if raw.strip()[:1] in (b"{", b"[") else "body is not JSON"
    if not isinstance(data, dict):
        return {}, "body is not a JSON object"
    choices = data.get("choices")
    if not isinstance(choices, list) or not choices:
        return data, "no choices"
    for c in choices:
        msg = c.get("message") if isinstance(c, dict) else None
        if not isinstance(msg, dict):
            return data, "a choice has no message"
        reasoning = msg.get("reasoning_content") or msg.get("reasoning")
        if msg.get("content") is None and not (isinstance(reasoning, str) and reasoning):
            return data, "content null with no reasoning"
    return data, None


async def send(ep: Endpoint, body: dict, job: Job) -> Result:
    """One request with the client's own retries; API errors end up in Result.error, never raised.

    `client.post` with the finished body skips the SDK's per-call parameter transform and its
    pydantic response models (together about 2 ms of CPU per request); the retries, backoff,
    Retry-After handling, timeouts and auth are the client's own. The raw body keeps the
    `reasoning` / `reasoning_content` extras as they came.
    """
    import httpx2
    import openai

    result = Result(job, endpoint=ep.url)
    ep.inflight += 1
    try:
        response = await ep.client.post("/chat/completions", body=body, cast_to=httpx2.Response)
        data, problem = parse_reply(response.content)
        if problem:
            result.malformed = True
            result.error = f"malformed reply: {problem}"
            return result
        choices = data["choices"]
        result.choices = sorted(choices, key=lambda c: c.get("index") or 0)
        usage = data.get("usage")
        result.usage = usage if isinstance(usage, dict) else {}
        result.model = data.get("model")
    except openai.APIStatusError as exc:
        result.status = exc.status_code
        result.error = f"HTTP {exc.status_code}: {str(exc.message)[:300]}"
    except openai.APITimeoutError as exc:
        if getattr(exc, "no_reply", False):  # see timeout_aware()
            result.timed_out = True
            result.error = f"timeout after {ep.timeout:g} s; raise --request_timeout_s"
        else:
            result.error = describe_connection_error(exc, ep.url)
    except openai.APIConnectionError as exc:
        result.error = describe_connection_error(exc, ep.url)
    except openai.APIError as exc:
        result.error = f"{type(exc).__name__}: {str(exc.message)[:300]}"
    except (ValueError, TypeError, AttributeError) as exc:
        result.error = f"bad response: {exc}"
    finally:
        ep.inflight -= 1
    return result
