r"""A STAND-IN OpenAI-compatible endpoint for demos and tests. It is NOT a model.

It serves `GET /v1/models` and `POST /v1/chat/completions` (n >= 1, stream true/false, usage,
finish_reason, seed) in the exact wire format the `openai` client and vLLM use, so the generator,
the demo and the tests can run on a laptop with no GPU. It does not think: it recognises which
sample problem (`<data_dir>/*_math.jsonl`) a prompt contains and replies with a canned short
step-by-step solution ending in `\boxed{...}`, correct with probability `p_correct`, written in
varied but equivalent forms (`\frac{1}{2}`, `1/2`, `0.5`, `③`, `3번`, `15\text{개}` ...),
sometimes wrong, sometimes with no box at all. Unknown prompts get a polite reply without a box.
By default half the replies carry reasoning in `reasoning_content`, as a reasoning model's server
sends it (vLLM's reasoning parser), so a demo run shows how `<think>` blocks are stored; which
replies do is decided per request seed and choice, like everything else.
Faults can be injected at random or by a fixed script: 429 (with Retry-After), 500, 503 (with
Retry-After), a dropped connection, a slow request, and `finish_reason: "length"` truncation.
Everything is deterministic given `seed` (and the request's own `seed`, when it sends one).
With `api_key` set it refuses requests without that bearer key (401), as vLLM --api-key does.

Usage:
    python -m sftkit.mock_server --data_dir data --port 0 --port_file /tmp/mock.url --p_correct 0.7
    # prints "mock server listening on http://127.0.0.1:PORT/v1" and writes that URL to the file

    from sftkit.mock_server import MockConfig, MockServer
    with MockServer(MockConfig(p_correct=1.0, script=("429",))) as srv:
        client = openai.OpenAI(base_url=srv.base_url, api_key="x")
        srv.update(p_correct=0.0)      # thread-safe, takes effect on the next request
        srv.stats["429"]               # -> 1 after the first request
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import logging
import random
import re
import signal
import sys
import threading
import time
from collections import deque
from dataclasses import dataclass, fields
from fractions import Fraction
from pathlib import Path

from aiohttp import web

from sftkit.jsonl import InputError, atomic_write_text, read_jsonl
from sftkit.oslimits import raise_open_files
from sftkit.problems import MULTIPLE, Version, build_versions, load_problems, stable_hash

log = logging.getLogger("sftkit.mock_server")

REASONING = ("none", "reasoning_content", "reasoning", "both")
FAULTS = ("429", "500", "503", "drop", "slow", "length")
SCRIPT_STEPS = (*FAULTS, "ok")  # "ok" in a script means: serve this request normally
CIRCLED = "①②③④⑤⑥⑦⑧⑨"
BACKLOG = 4096  # listen() queue: 1,024 clients connecting at once must not get refused
BODIES_KEPT = 1000  # request bodies kept for inspection (MockServer.bodies)


@dataclass(frozen=True)
class MockConfig:
    data_dir: str = "data"
    model: str = "demo-model"
    p_correct: float = 0.7
    latency: float = 0.0  # seconds before every answer ...
    jitter: float = 0.0  # ... plus or minus uniform(0, jitter)
    seed: int = 0
    reasoning: str = "reasoning_content"  # none | reasoning_content | reasoning | both
    p_reasoning: float = 0.5  # share of replies that carry reasoning (unless reasoning is none)
    p_no_box: float = 0.05
    p_429: float = 0.0
    p_500: float = 0.0
    p_503: float = 0.0
    p_drop: float = 0.0
    p_slow: float = 0.0
    slow_seconds: float = 5.0
    p_length: float = 0.0
    retry_after: float = 1
    script: tuple[str, ...] = ()  # faults for the first requests, in order, e.g. ("429", "ok")
    api_key: str | None = None  # like vLLM's --api-key: 401 unless "Authorization: Bearer <key>"

    def __post_init__(self):
        if self.reasoning not in REASONING:
            raise ValueError(
                f"reasoning must be one of {', '.join(REASONING)}, got {self.reasoning!r}"
            )
        probs = {f.name: getattr(self, f.name) for f in fields(self) if f.name.startswith("p_")}
        for name, p in probs.items():
            if not 0.0 <= p <= 1.0:
                raise ValueError(f"{name} must be within [0, 1], got {p}")
        if sum(probs[f"p_{k}"] for k in FAULTS) > 1.0 + 1e-9:
            raise ValueError("the fault probabilities p_429 .. p_length add up to more than 1")
        for name in ("latency", "jitter", "slow_seconds", "retry_after"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0")
        # Accept a list from callers; keep the frozen config hashable.
        object.__setattr__(self, "script", tuple(str(s) for s in self.script))
        bad = [s for s in self.script if s not in SCRIPT_STEPS]
        if bad:
            raise ValueError(f"unknown script step(s) {bad}; choose from {', '.join(SCRIPT_STEPS)}")


# --- answer renderings -----------------------------------------------------------------------

_MATH_WRAP = re.compile(r"^\s*(?:\$\$?(.*?)\$\$?|\\\((.*?)\\\)|\\\[(.*?)\\\])\s*$", re.S)
_FRAC = re.compile(r"^(-?)\\frac\{([^{}]+)\}\{([^{}]+)\}$")
_SQRT = re.compile(r"^(\d*)\\sqrt\{(\d+)\}$")
_LOG = re.compile(r"^\\log_(\{?\d+\}?)\s*(\d+)$")
_INT = re.compile(r"^-?\d+$")
_JAMO_LIST = re.compile(r"^[ㄱ-ㅎ](?:\s*,\s*[ㄱ-ㅎ])*$")


def strip_math(text: str) -> str:
    r"""Drop one pair of math delimiters around a whole answer: "\(\frac{3}{2}\)" -> "\frac{3}{2}"."""
    m = _MATH_WRAP.match(text)
    if not m:
        return text.strip()
    return next(g for g in m.groups() if g is not None).strip()


def _simple(token: str) -> bool:
    return re.fullmatch(r"-?(?:\d+|\\pi|\d+\\pi|[a-z])", token) is not None


def _int_renderings(n: int, body: str) -> list[str]:
    out = [str(n), str(n)]
    # A count reads naturally with its unit; the grader must strip \text{...}.
    out.append(f"{n}\\text{{개}}" if "개수" in body else f"{n}.0")
    return out


def value_renderings(gold: int | str, body: str = "") -> tuple[str, ...]:
    r"""Equivalent ways to write a value, the plain form first.

    "$\frac{3}{4}$" -> ("\frac{3}{4}", "\dfrac{3}{4}", "3/4", "\dfrac34", "0.75")
    """
    if isinstance(gold, int):
        return tuple(_int_renderings(gold, body))
    core = strip_math(str(gold))
    out = [core]
    if _INT.match(core):
        return tuple(_int_renderings(int(core), body))
    if m := _FRAC.match(core):
        sign, num, den = m.groups()
        out.append(f"{sign}\\dfrac{{{num}}}{{{den}}}")
        if _simple(num) and _simple(den):
            out.append(f"{sign}{num}/{den}")
        if len(num) == 1 and len(den) == 1:
            out.append(f"{sign}\\dfrac{num}{den}")
        if num.isdigit() and den.isdigit():
            value = Fraction(int(num), int(den))
            d = value.denominator
            while d % 2 == 0:
                d //= 2
            while d % 5 == 0:
                d //= 5
            if d == 1:  # terminating decimal: 3/4 -> 0.75, never 1/3 -> 0.333
                out.append(f"{sign}{float(value):g}")
    elif m := _SQRT.match(core):
        coef, rad = m.groups()
        if len(rad) == 1:
            out.append(f"{coef}\\sqrt{rad}")
        if coef:
            out.append(f"\\sqrt{{{int(coef) ** 2 * int(rad)}}}")  # 4\sqrt{3} -> \sqrt{48}
    elif m := _LOG.match(core):
        base, arg = m.group(1).strip("{}"), m.group(2)
        out += [f"\\log_{{{base}}}{{{arg}}}", f"\\log_{{{base}}} {arg}"]
    elif _JAMO_LIST.match(core):
        letters = re.findall(r"[ㄱ-ㅎ]", core)
        out += [",".join(letters), f"\\text{{{', '.join(letters)}}}"]
    elif "\\pi" in core:
        out.append(core.replace("\\pi", " \\pi").replace("  ", " ").strip())
    return tuple(dict.fromkeys(out))


def choice_renderings(k: int) -> tuple[str, ...]:
    r"""Ways a model names choice k: 3 -> ("3", "③", "3번", "(3)", "\text{③}")."""
    mark = CIRCLED[k - 1] if 1 <= k <= len(CIRCLED) else str(k)
    return (str(k), mark, f"{k}번", f"({k})", f"\\text{{{mark}}}")


def _wrong_int(n: int, rng: random.Random) -> int:
    delta = rng.choice((-3, -2, -1, 1, 2, 3, 5, 10))
    return n + delta


# --- the answer book: which problem is this prompt about? ------------------------------------


@dataclass(frozen=True)
class Entry:
    version: Version
    correct: tuple[str, ...]  # equivalent renderings of the gold
    wrong: tuple[tuple[str, ...], ...]  # renderings of each plausible wrong answer
    review: str  # the data file's short solution note, used as a solution step


def _entry(version: Version, review: str, rng: random.Random) -> Entry:
    problem = version.problem
    if version.type == MULTIPLE and problem.choices is not None:
        k = int(version.gold)
        others = [i for i in range(1, len(problem.choices) + 1) if i != k]
        return Entry(
            version, choice_renderings(k), tuple(choice_renderings(i) for i in others), review
        )
    if problem.choices is not None:
        gold_text = strip_math(str(version.gold))
        others = [c for c in problem.choices if strip_math(c) != gold_text]
        wrong = tuple(value_renderings(c, version.body) for c in others)
        return Entry(version, value_renderings(version.gold, version.body), wrong, review)
    if isinstance(version.gold, int) or _INT.match(str(version.gold).strip()):
        n = int(version.gold)
        wrong_values = sorted({_wrong_int(n, rng) for _ in range(6)} - {n})
        wrong = tuple(value_renderings(w, version.body) for w in wrong_values)
        return Entry(version, value_renderings(n, version.body), wrong, review)
    core = strip_math(str(version.gold))
    return Entry(version, value_renderings(version.gold, version.body), ((f"{core}+1",),), review)


class AnswerBook:
    """Index of every version body by its first characters, so a lookup costs a few dict probes.

    A prompt is `body + sep + sentence` or `sentence + sep + body` (sftkit.problems.build_prompt),
    so the body starts at position 0 or right after a newline.
    """

    KEY = 32

    def __init__(self, entries: list[Entry]):
        self.entries = entries
        self._by_prefix: dict[str, list[Entry]] = {}
        self._short: list[Entry] = []
        for e in entries:
            body = e.version.body
            if len(body) < self.KEY:
                self._short.append(e)
            else:
                self._by_prefix.setdefault(body[: self.KEY], []).append(e)

    @classmethod
    def load(cls, data_dir: str | Path, seed: int = 0) -> AnswerBook:
        entries: list[Entry] = []
        rng = random.Random(seed)
        if not Path(data_dir).is_dir():
            raise InputError(f"{data_dir}: data_dir is not a directory")
        paths = sorted(Path(data_dir).glob("*_math.jsonl"))
        if not paths:
            log.warning("%s holds no *_math.jsonl files: every prompt will be unknown", data_dir)
        for path in paths:
            reviews = {ln: str(obj.get("review") or "") for ln, obj in read_jsonl(path)}
            for problem in load_problems(path):
                for version in build_versions(problem):
                    entries.append(_entry(version, reviews.get(problem.lineno, ""), rng))
        return cls(entries)

    def lookup(self, prompt: str) -> Entry | None:
        """The longest version body contained in the prompt (a multiple before its subjective)."""
        best: Entry | None = None
        start = 0
        while start != -1:
            for e in self._by_prefix.get(prompt[start : start + self.KEY], ()):
                if prompt.startswith(e.version.body, start) and (
                    best is None or len(e.version.body) > len(best.version.body)
                ):
                    best = e
            nl = prompt.find("\n", start)
            start = nl + 1 if nl != -1 else -1
        for e in self._short:
            if e.version.body in prompt and (
                best is None or len(e.version.body) > len(best.version.body)
            ):
                best = e
        if best is None and len(self.entries) <= 5000:
            # Prompts built some other way (e.g. a prefix on the body's line): scan, longest first.
            for e in self.entries:
                body = e.version.body
                if body in prompt and (best is None or len(body) > len(best.version.body)):
                    best = e
        return best


# --- reply text --------------------------------------------------------------------------------

_STEPS_KO = (
    "문제의 조건을 차례로 정리해 보자.\n\n1. 주어진 식과 조건을 확인한다.\n2. {step}\n"
    "3. 계산 결과를 다시 확인한다.\n\n따라서 답은 {final} 이다.",
    "풀이\n\n먼저 구하는 값이 무엇인지 확인한다.\n{step}\n검산해도 같은 값이 나온다.\n\n"
    "정답: {final}",
)
_STEPS_EN = (
    "Let's solve it step by step.\n\nStep 1: Write down what is given.\nStep 2: {step}\n"
    "Step 3: Check the computation.\n\nThe final answer is {final}.",
    "Solution.\n1. Identify what the question asks for.\n2. {step}\n3. Verify the result.\n\n"
    "Therefore the answer is {final}.",
)
_GENERIC_STEP = (
    "조건을 식으로 나타내고 차례로 계산한다.",
    "Substitute the given values and simplify.",
    "주어진 관계를 이용해 값을 구한다.",
)
_UNKNOWN = (
    "I'm sorry, but I could not identify this problem. (This is a stand-in demo server, "
    "not a model: it only knows the sample problems.)"
)


def _token_count(text: str | None) -> int:
    return len(text.split()) if text else 0


@dataclass
class Reply:
    content: str
    reasoning: str | None
    finish_reason: str
    outcome: str  # correct | wrong | no_box | unknown


def compose(entry: Entry | None, cfg: MockConfig, rng: random.Random, think: bool = True) -> Reply:
    r"""One choice's reply for a recognised problem (or a polite refusal for an unknown one);
    with reasoning when `think` and cfg.reasoning is not "none".

    correct, box: "... 따라서 답은 \boxed{\dfrac{3}{4}} 이다."; no box: "... 따라서 답은 3/4 이다."
    """
    think = think and cfg.reasoning != "none"
    if entry is None:
        reasoning = "The prompt does not match any sample problem." if think else None
        return Reply(_UNKNOWN, reasoning, "stop", "unknown")
    boxed = rng.random() >= cfg.p_no_box
    correct = rng.random() < cfg.p_correct
    if correct or not entry.wrong:
        answer = rng.choice(entry.correct)
        step = entry.review or rng.choice(_GENERIC_STEP)
    else:
        answer = rng.choice(rng.choice(entry.wrong))
        step = rng.choice(_GENERIC_STEP)  # the review would give the right answer away
    final = f"\\boxed{{{answer}}}" if boxed else answer
    template = rng.choice(_STEPS_KO + _STEPS_EN)
    content = template.format(step=step, final=final)
    reasoning = None
    if think:
        reasoning = (
            "The question asks for a single value. I will organise the conditions, compute, "
            f"and double-check. My answer: {answer}"
        )
    outcome = "no_box" if not boxed else ("correct" if correct or not entry.wrong else "wrong")
    return Reply(content, reasoning, "stop", outcome)


def _first_words(text: str, k: int) -> str:
    """The text up to the end of its k-th word (words as _token_count counts them)."""
    if k <= 0:
        return ""
    end = 0
    for i, m in enumerate(re.finditer(r"\S+", text), 1):
        end = m.end()
        if i == k:
            break
    return text[:end]


def truncate(reply: Reply, rng: random.Random, max_words: int | None = None) -> Reply:
    """Cut a reply as a token limit would: never past the start of the box.

    max_words=None is the injected "length" fault: a random cut, inside the reasoning half the
    time when there is reasoning (content is then "": the reply carries it as null, as vLLM
    does for a reasoning model cut off mid-thought).
    """
    words = reply.content.split()
    box_at = next((i for i, w in enumerate(words) if "\\boxed" in w), len(words))
    thought = _token_count(reply.reasoning)
    if max_words is None:
        if thought and rng.random() < 0.5:
            cut = max(1, int(thought * rng.uniform(0.3, 0.8)))
            return Reply("", _first_words(reply.reasoning, cut), "length", reply.outcome)
        keep = max(1, int(box_at * rng.uniform(0.3, 0.8)))
    else:
        if thought >= max_words:
            return Reply("", _first_words(reply.reasoning, max_words), "length", reply.outcome)
        keep = min(max_words - thought, box_at)
    return Reply(_first_words(reply.content, keep), reply.reasoning, "length", reply.outcome)


# --- HTTP ----------------------------------------------------------------------------------------


def _error(status: int, message: str, etype: str, code: str | None, headers=None, param=None):
    body = {"error": {"message": message, "type": etype, "param": param, "code": code}}
    return web.json_response(body, status=status, headers=headers)


def _retry_header(seconds: float) -> dict[str, str]:
    return {"Retry-After": str(int(seconds)) if float(seconds).is_integer() else f"{seconds:g}"}


def _prompt_text(messages: list) -> str:
    for msg in reversed(messages):
        if isinstance(msg, dict) and msg.get("role") == "user":
            content = msg.get("content")
            if isinstance(content, list):  # content parts: [{"type": "text", "text": ...}]
                return "\n".join(p.get("text", "") for p in content if isinstance(p, dict))
            return content if isinstance(content, str) else ""
    return ""


class _Core:
    """The aiohttp application and its state; used by MockServer (thread) and the CLI (main loop)."""

    def __init__(self, cfg: MockConfig):
        self.cfg = cfg
        self.book = AnswerBook.load(cfg.data_dir, cfg.seed)
        self.lock = threading.Lock()
        self.script_pos = 0
        self.counter = 0
        self.seen: dict[int, int] = {}  # prompt hash -> times asked, for per-prompt determinism
        self.stats: dict[str, int] = dict.fromkeys(
            ("requests", "completions", "choices", "correct", "wrong", "no_box", "unknown",
             *FAULTS, "models", "bad_request", "not_found", "unauthorized", "peak_inflight"), 0,
        )  # fmt: skip
        self.inflight = 0
        # The latest request bodies, for tests that check what the client sent (bounded: the
        # benchmarks send tens of thousands).
        self.bodies: deque[dict] = deque(maxlen=BODIES_KEPT)
        self.runner: web.AppRunner | None = None
        self.port = 0

    def update(self, **changes) -> MockConfig:
        with self.lock:
            new = dataclasses.replace(self.cfg, **changes)
            if "script" in changes:
                self.script_pos = 0
            self.cfg = new
            return new

    def _next_fault(self, cfg: MockConfig, key: int) -> tuple[str, float, int]:
        """(fault or "ok", latency, how often this prompt was asked before).

        Draws are keyed by (seed, prompt, occurrence), not by arrival order, so a concurrent run
        sees the same faults and answers on every rerun; a retry of a prompt draws afresh.
        """
        with self.lock:
            self.counter += 1
            occurrence = self.seen.get(key, 0)
            self.seen[key] = occurrence + 1
            script_step = None
            if self.script_pos < len(cfg.script):
                script_step = cfg.script[self.script_pos]
                self.script_pos += 1
        rng = random.Random(stable_hash(cfg.seed, "fault", key, occurrence))
        fault = script_step or "ok"
        if script_step is None:
            r, acc = rng.random(), 0.0
            for kind in FAULTS:
                acc += getattr(cfg, f"p_{kind}")
                if r < acc:
                    fault = kind
                    break
        delay = max(0.0, cfg.latency + rng.uniform(-cfg.jitter, cfg.jitter))
        return fault, delay, occurrence

    async def start(self, host: str, port: int) -> None:
        # 1,024 clients plus their server sockets exceed the usual soft limit of 1,024 files.
        raise_open_files(65536)
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_get("/v1/models", self.models)
        app.router.add_get("/health", self.health)
        app.router.add_post("/v1/chat/completions", self.chat)
        # No access log: per-request CPU matters when the benchmark shares 2 cores with us.
        self.runner = web.AppRunner(
            app,
            access_log=None,
            handle_signals=False,
            shutdown_timeout=0.5,
            handler_cancellation=True,
        )
        await self.runner.setup()
        site = web.TCPSite(self.runner, host, port, backlog=BACKLOG)
        await site.start()
        self.port = self.runner.addresses[0][1]

    async def stop(self) -> None:
        if self.runner is not None:
            await self.runner.cleanup()
            self.runner = None

    async def health(self, request: web.Request) -> web.Response:
        return web.Response(text="ok")

    def _refused(self, request: web.Request) -> web.Response | None:
        """vLLM's answer to a missing or wrong key when it runs with --api-key."""
        key = self.cfg.api_key
        if key is None or request.headers.get("Authorization") == f"Bearer {key}":
            return None
        self.stats["unauthorized"] += 1
        return web.json_response({"error": "Unauthorized"}, status=401)

    async def models(self, request: web.Request) -> web.Response:
        self.stats["models"] += 1
        if refused := self._refused(request):
            return refused
        card = {"id": self.cfg.model, "object": "model", "created": 0, "owned_by": "sftkit-mock"}
        return web.json_response({"object": "list", "data": [card]})

    async def chat(self, request: web.Request) -> web.StreamResponse:
        self.stats["requests"] += 1
        if refused := self._refused(request):
            return refused
        self.inflight += 1
        self.stats["peak_inflight"] = max(self.stats["peak_inflight"], self.inflight)
        try:
            return await self._chat(request)
        finally:
            self.inflight -= 1

    async def _chat(self, request: web.Request) -> web.StreamResponse:
        cfg = self.cfg
        try:
            req = await request.json()
        except (json.JSONDecodeError, UnicodeDecodeError):
            self.stats["bad_request"] += 1
            return _error(400, "Request body is not valid JSON.", "invalid_request_error", None)
        self.bodies.append(req)
        problem = _validate(req)
        if problem:
            self.stats["bad_request"] += 1
            return _error(400, problem, "invalid_request_error", None)
        if req["model"] != cfg.model:
            self.stats["not_found"] += 1
            msg = f"The model `{req['model']}` does not exist or you do not have access to it."
            return _error(404, msg, "invalid_request_error", "model_not_found", param="model")

        prompt = _prompt_text(req["messages"])
        key = stable_hash(prompt)  # hash the (long) prompt once; later draws hash this number
        fault, delay, occurrence = self._next_fault(cfg, key)
        if fault != "ok" and fault != "length":
            self.stats[fault] += 1
        if fault == "slow":
            delay += cfg.slow_seconds
        if delay:
            await asyncio.sleep(delay)
        if fault == "429":
            msg = "Rate limit reached (stand-in fault injection)."
            headers = _retry_header(cfg.retry_after)
            return _error(429, msg, "rate_limit_error", "rate_limit_exceeded", headers)
        if fault == "500":
            return _error(
                500, "Internal server error (stand-in fault injection).", "server_error", None
            )
        if fault == "503":
            msg = "Service temporarily unavailable (stand-in fault injection)."
            return _error(503, msg, "server_error", None, _retry_header(cfg.retry_after))
        if fault == "drop":
            # Close the socket with no response at all: the client sees a broken connection.
            request.transport.abort()
            raise asyncio.CancelledError

        replies, usage = self._replies(req, prompt, key, cfg, fault, occurrence)
        self.stats["completions"] += 1
        created = int(time.time())
        cid = f"chatcmpl-mock-{stable_hash(cfg.seed, key, occurrence, self.counter):016x}"
        if req.get("stream"):
            return await self._stream(request, req, cfg, replies, usage, cid, created)
        choices = []
        for i, r in enumerate(replies):
            extra = _reasoning_fields(cfg, r)
            # Cut off mid-thought, vLLM's reasoning parser sends content null, not "".
            content = None if extra and not r.content else r.content
            message = {"role": "assistant", "content": content, **extra}
            choices.append(
                {"index": i, "message": message, "logprobs": None, "finish_reason": r.finish_reason}
            )
        body = {
            "id": cid, "object": "chat.completion", "created": created, "model": cfg.model,
            "system_fingerprint": f"mock-{cfg.seed}", "choices": choices, "usage": usage,
        }  # fmt: skip
        return web.json_response(body)

    def _replies(self, req, prompt: str, key: int, cfg: MockConfig, fault: str, occurrence: int):
        entry = self.book.lookup(prompt)
        n = int(req.get("n") or 1)
        max_words = req.get("max_completion_tokens") or req.get("max_tokens")
        seed = req.get("seed")
        replies = []
        for i in range(n):
            # With a request seed the reply depends only on (seed, prompt, choice): reproducible.
            which = ("req", seed) if seed is not None else ("nth", occurrence)
            rng = random.Random(stable_hash(cfg.seed, *which, cfg.model, key, i))
            # A draw of its own: the answers and faults stay what they were without reasoning.
            pick = random.Random(stable_hash(cfg.seed, *which, cfg.model, key, i, "reasoning"))
            r = compose(entry, cfg, rng, think=pick.random() < cfg.p_reasoning)
            words = _token_count(r.content) + _token_count(r.reasoning)
            if fault == "length":
                r = truncate(r, rng)
            elif max_words and words > max_words:
                r = truncate(r, rng, max_words)
            if r.finish_reason == "length":
                self.stats["length"] += 1
            else:
                self.stats[r.outcome] += 1
            self.stats["choices"] += 1
            replies.append(r)
        prompt_tokens = sum(_token_count(_part_text(m)) for m in req["messages"])
        completion_tokens = sum(
            _token_count(r.content) + _token_count(r.reasoning) for r in replies
        )
        usage = {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
        }
        return replies, usage

    async def _stream(self, request, req, cfg, replies, usage, cid, created) -> web.StreamResponse:
        include_usage = bool((req.get("stream_options") or {}).get("include_usage"))
        base = {
            "id": cid,
            "object": "chat.completion.chunk",
            "created": created,
            "model": cfg.model,
        }
        if include_usage:
            base["usage"] = None

        def chunk(index: int, delta: dict, finish: str | None = None) -> str:
            choice = {"index": index, "delta": delta, "logprobs": None, "finish_reason": finish}
            return f"data: {json.dumps({**base, 'choices': [choice]}, ensure_ascii=False)}\n\n"

        parts = []
        for i, r in enumerate(replies):
            parts.append(chunk(i, {"role": "assistant", "content": ""}))
            if r.reasoning is not None:
                for piece in _pieces(r.reasoning):
                    parts.append(chunk(i, _reasoning_fields(cfg, r, piece)))
            for piece in _pieces(r.content):
                parts.append(chunk(i, {"content": piece}))
            parts.append(chunk(i, {}, r.finish_reason))
        if include_usage:
            parts.append(f"data: {json.dumps({**base, 'choices': [], 'usage': usage})}\n\n")
        parts.append("data: [DONE]\n\n")
        resp = web.StreamResponse(
            headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"}
        )
        await resp.prepare(request)
        # One write per choice keeps the chunked framing real while CPU per request stays small.
        await resp.write("".join(parts).encode("utf-8"))
        await resp.write_eof()
        return resp


def _part_text(msg) -> str:
    if not isinstance(msg, dict):
        return ""
    content = msg.get("content")
    if isinstance(content, list):
        return " ".join(p.get("text", "") for p in content if isinstance(p, dict))
    return content if isinstance(content, str) else ""


def _pieces(text: str, size: int = 12) -> list[str]:
    """Split text into stream deltas of about `size` words that join back to the exact text."""
    words = text.split(" ")
    return [" ".join(words[i : i + size]) + (" " if i + size < len(words) else "")
            for i in range(0, len(words), size)] or [""]  # fmt: skip


def _reasoning_fields(cfg: MockConfig, r: Reply, text: str | None = None) -> dict:
    if r.reasoning is None or cfg.reasoning == "none":
        return {}
    text = r.reasoning if text is None else text
    if cfg.reasoning == "both":
        return {"reasoning_content": text, "reasoning": text}
    return {cfg.reasoning: text}


def _validate(req) -> str | None:
    if not isinstance(req, dict):
        return "Request body must be a JSON object."
    if not isinstance(req.get("model"), str):
        return "'model' is required."
    messages = req.get("messages")
    if not isinstance(messages, list) or not messages:
        return "'messages' must be a non-empty list."
    n = req.get("n", 1)
    if n is not None and (isinstance(n, bool) or not isinstance(n, int) or not 1 <= n <= 128):
        return "'n' must be an integer between 1 and 128."
    for key in ("max_tokens", "max_completion_tokens"):
        v = req.get(key)
        if v is not None and (isinstance(v, bool) or not isinstance(v, int) or v < 1):
            return f"'{key}' must be a positive integer."
    return None


# --- running it --------------------------------------------------------------------------------


class MockServer:
    """Run the stand-in in a background thread with its own event loop.

    with MockServer(MockConfig(p_correct=1.0)) as srv: srv.base_url -> "http://127.0.0.1:PORT/v1"
    """

    def __init__(self, cfg: MockConfig | None = None, host: str = "127.0.0.1", port: int = 0):
        self._core = _Core(cfg or MockConfig())  # loads the data now: bad files fail here
        self.host, self._port = host, port
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None

    @property
    def config(self) -> MockConfig:
        return self._core.cfg

    @property
    def port(self) -> int:
        return self._core.port

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}/v1"

    @property
    def stats(self) -> dict[str, int]:
        """A snapshot of the counters.

        requests: chat requests received; completions: 200 replies; choices: choices served,
        split into correct / wrong / no_box / unknown (prompt not recognised) / length (truncated);
        429, 500, 503, drop, slow: faults injected; models: /v1/models calls;
        bad_request: 400s; not_found: unknown-model 404s; unauthorized: 401s (api_key set);
        peak_inflight: most chat requests being served at once.
        """
        return dict(self._core.stats)

    @property
    def bodies(self) -> list[dict]:
        """The latest chat request bodies as received (JSON objects), oldest first; at most
        BODIES_KEPT: srv.bodies[-1]["temperature"] -> 0.7."""
        return list(self._core.bodies)

    def update(self, **changes) -> MockConfig:
        """Change the config at run time: srv.update(p_correct=1.0, script=("503",)).

        A new `script` starts from its first step. `data_dir` is read once, at construction.
        """
        return self._core.update(**changes)

    def start(self) -> MockServer:
        self._thread = threading.Thread(target=self._run, name="mock-server", daemon=True)
        self._thread.start()
        if not self._ready.wait(30):
            raise RuntimeError("mock server did not start within 30 s")
        if self._error is not None:
            raise self._error
        return self

    def _run(self) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        try:
            loop.run_until_complete(self._core.start(self.host, self._port))
        except BaseException as exc:  # report to start(), which re-raises in the caller's thread
            self._error = exc
            self._ready.set()
            loop.close()
            return
        self._ready.set()
        try:
            loop.run_forever()
        finally:
            loop.run_until_complete(self._core.stop())
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.close()

    def stop(self) -> None:
        if self._thread is None:
            return
        if self._loop is not None and self._loop.is_running():
            self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(30)
        self._thread = None

    def __enter__(self) -> MockServer:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


_HELP = {
    "data_dir": "folder of *_math.jsonl problem files to recognise",
    "model": "the one model name served",
    "p_correct": "probability an answer is correct",
    "latency": "seconds before each reply",
    "jitter": "latency varies by up to +/- this many seconds",
    "seed": "makes answers and faults reproducible",
    "reasoning": "field(s) the reasoning is sent in: none | reasoning_content | reasoning | both",
    "p_reasoning": "share of replies that carry reasoning",
    "p_no_box": "probability an answer has no \\boxed{}",
    "p_429": "probability of a 429 with Retry-After",
    "p_500": "probability of a 500",
    "p_503": "probability of a 503 with Retry-After",
    "p_drop": "probability the connection is closed with no response",
    "p_slow": "probability a request waits slow_seconds first",
    "slow_seconds": "extra wait of a slow request",
    "p_length": "probability replies are cut (finish_reason length)",
    "retry_after": "Retry-After seconds sent with 429 and 503",
    "api_key": "require this bearer key, as vLLM --api-key does (none: open)",
}


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Stand-in OpenAI-compatible endpoint for demos and tests (not a model)."
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument("--port_file", default=None, help="write the base URL here (atomically)")
    parser.add_argument("--log_level", default="WARNING")
    for f in fields(MockConfig):
        if f.name == "script":
            steps = ", ".join(SCRIPT_STEPS)
            parser.add_argument("--script", default="", help=f"comma-separated steps: {steps}")
            continue
        kind = {"float": float, "int": int}.get(str(f.type), str)
        parser.add_argument(
            f"--{f.name}",
            type=kind,
            default=f.default,
            help=f"{_HELP.get(f.name, '')} (%(default)s)",
        )
    return parser.parse_args(argv)


def config_from_args(args: argparse.Namespace) -> MockConfig:
    values = {f.name: getattr(args, f.name) for f in fields(MockConfig) if f.name != "script"}
    script = tuple(s.strip() for s in args.script.split(",") if s.strip())
    return MockConfig(**values, script=script)


async def serve(cfg: MockConfig, host: str, port: int, port_file: str | None) -> None:
    core = _Core(cfg)
    await core.start(host, port)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    url = f"http://{host}:{core.port}/v1"
    if port_file:
        atomic_write_text(port_file, url + "\n")
    print(f"mock server listening on {url}", flush=True)
    log.info("%d problem versions indexed from %s", len(core.book.entries), cfg.data_dir)
    try:
        await stop.wait()
    finally:
        await core.stop()
        print(f"mock server stopped; stats: {json.dumps(core.stats)}", flush=True)


def main(argv=None) -> int:
    args = parse_args(argv)
    logging.basicConfig(
        level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(message)s"
    )
    try:
        cfg = config_from_args(args)
        asyncio.run(serve(cfg, args.host, args.port, args.port_file))
    except (InputError, ValueError) as exc:
        print(f"mock server: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"mock server: cannot listen on {args.host}:{args.port}: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
