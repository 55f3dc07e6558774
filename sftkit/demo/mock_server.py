r"""A STAND-IN OpenAI-compatible endpoint for demos and tests: HTTP for the fake model.

It serves `GET /v1/models` and `POST /v1/chat/completions` (n >= 1, stream true/false, usage,
finish_reason, seed) in the exact wire format the `openai` client and vLLM use, so the generator,
the demo and the tests can run on a laptop with no GPU. The answers and the faults to inject
come from the fake model (sftkit/demo/mock_model.py); this file sends them: a 429 or 503 with
Retry-After, a 500, a dropped connection, a slow request, `finish_reason: "length"`, reasoning
in `reasoning_content` as vLLM's reasoning parser sends it (or in `reasoning`, or both).
With `api_key` set it refuses requests without that bearer key (401), as vLLM --api-key does.

Usage:
    python -m sftkit.demo.mock_server --data_dir data --port 0 --port_file /tmp/mock.url --p_correct 0.7
    # prints "mock server listening on http://127.0.0.1:PORT/v1" and writes that URL to the file

    from sftkit.demo.mock_server import MockConfig, MockServer
    with MockServer(MockConfig(p_correct=1.0, script=("429",))) as srv:
        client = openai.OpenAI(base_url=srv.base_url, api_key="x")
        srv.update(p_correct=0.0)      # thread-safe, takes effect on the next request
        srv.stats["429"]               # -> 1 after the first request
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import signal
import sys
import threading
import time
from collections import deque
from dataclasses import fields

from aiohttp import web

from sftkit.common.flags import accept_dashes
from sftkit.common.jsonl import InputError, atomic_write_text
from sftkit.common.oslimits import raise_open_files
from sftkit.demo.mock_model import FAULTS, SCRIPT_STEPS, MockConfig, MockModel, Reply, token_count
from sftkit.inputs.problems import stable_hash

log = logging.getLogger("sftkit.demo.mock_server")

BACKLOG = 4096  # listen() queue: 1,024 clients connecting at once must not get refused
BODIES_KEPT = 1000  # request bodies kept for inspection (MockServer.bodies)


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


class _Endpoint:
    """The aiohttp application and its counters around one MockModel; used by MockServer (thread)
    and the CLI (main loop)."""

    def __init__(self, cfg: MockConfig):
        self.model = MockModel(cfg)  # loads the data now: bad files fail here
        self.stats: dict[str, int] = dict.fromkeys(
            ("requests", "completions", "choices", "correct", "wrong", "no_box", "unknown",
             "judge", *FAULTS, "models", "bad_request", "not_found", "unauthorized", "peak_inflight"), 0,
        )  # fmt: skip
        self.inflight = 0
        # The latest request bodies, for tests that check what the client sent (bounded: the
        # benchmarks send tens of thousands).
        self.bodies: deque[dict] = deque(maxlen=BODIES_KEPT)
        self.runner: web.AppRunner | None = None
        self.port = 0

    @property
    def cfg(self) -> MockConfig:
        return self.model.cfg

    async def start(self, host: str, port: int) -> None:
        # 1,024 clients plus their server sockets exceed the usual soft limit of 1,024 files.
        raise_open_files(65536)
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_get("/v1/models", self.models)
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
        fault, delay, occurrence = self.model.next_fault(cfg, key)
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
        cid = f"chatcmpl-mock-{stable_hash(cfg.seed, key, occurrence, self.model.counter):016x}"
        if req.get("stream"):
            return await self._stream(request, req, cfg, replies, usage, cid, created)
        choices = []
        for i, r in enumerate(replies):
            extra = _reasoning_fields(cfg, r) if fault != "null_content" else {}
            # Cut off mid-thought, vLLM's reasoning parser sends content null, not "".
            content = None if (extra and not r.content) or fault == "null_content" else r.content
            message = {"role": "assistant", "content": content, **extra}
            choices.append(
                {"index": i, "message": message, "logprobs": None, "finish_reason": r.finish_reason}
            )
        body = {
            "id": cid, "object": "chat.completion", "created": created, "model": cfg.model,
            "system_fingerprint": f"mock-{cfg.seed}", "choices": choices, "usage": usage,
        }  # fmt: skip
        if fault == "no_choices":
            body["choices"] = []
        if fault == "cut_json":  # status 200, the body stops half way
            text = json.dumps(body, ensure_ascii=False)
            return web.Response(text=text[: len(text) // 2], content_type="application/json")
        return web.json_response(body)

    def _replies(self, req, prompt: str, key: int, cfg: MockConfig, fault: str, occurrence: int):
        n = int(req.get("n") or 1)
        max_words = req.get("max_completion_tokens") or req.get("max_tokens")
        seed = req.get("seed")
        replies = self.model.replies(cfg, prompt, key, fault, occurrence, n, max_words, seed)
        for r in replies:
            self.stats["length" if r.finish_reason == "length" else r.outcome] += 1
            self.stats["choices"] += 1
        prompt_tokens = sum(token_count(_part_text(m)) for m in req["messages"])
        completion_tokens = sum(token_count(r.content) + token_count(r.reasoning) for r in replies)
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
        self._endpoint = _Endpoint(cfg or MockConfig())  # loads the data now: bad files fail here
        self.host, self._port = host, port
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None

    @property
    def port(self) -> int:
        return self._endpoint.port

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}/v1"

    @property
    def stats(self) -> dict[str, int]:
        """A snapshot of the counters.

        requests: chat requests received; completions: 200 replies; choices: choices served,
        split into correct / wrong / no_box / unknown (prompt not recognised) / length (truncated);
        429, 500, 503, drop, slow, cut_json, no_choices, null_content: faults injected; models: /v1/models calls;
        bad_request: 400s; not_found: unknown-model 404s; unauthorized: 401s (api_key set);
        peak_inflight: most chat requests being served at once.
        """
        return dict(self._endpoint.stats)

    @property
    def bodies(self) -> list[dict]:
        """The latest chat request bodies as received (JSON objects), oldest first; at most
        BODIES_KEPT: srv.bodies[-1]["temperature"] -> 0.7."""
        return list(self._endpoint.bodies)

    def update(self, **changes) -> MockConfig:
        """Change the config at run time: srv.update(p_correct=1.0, script=("503",)).

        A new `script` starts from its first step. `data_dir` is read once, at construction.
        """
        return self._endpoint.model.update(**changes)

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
            loop.run_until_complete(self._endpoint.start(self.host, self._port))
        except BaseException as exc:  # report to start(), which re-raises in the caller's thread
            self._error = exc
            self._ready.set()
            loop.close()
            return
        self._ready.set()
        try:
            loop.run_forever()
        finally:
            loop.run_until_complete(self._endpoint.stop())
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
    "data_dir": "folder of problem files to recognise (any shape the generator reads)",
    "fields": "the generator's --fields, e.g. problem=query,answer=label",
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
    "p_cut_json": "probability of a 200 whose JSON body is cut off half way",
    "p_no_choices": "probability of a 200 with an empty choices list",
    "p_null_content": "probability of a 200 whose choices have content null and no reasoning",
    "retry_after": "Retry-After seconds sent with 429 and 503",
    "p_quirk": "share of correct replies a filter should drop (hedged, loop, mix, stray tag, cut)",
    "p_judge_yes": "judge requests: probability of YES",
    "judge_reply": "judge requests: send this reply verbatim (none: YES/NO by p_judge_yes)",
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
        if f.name == "skip_bad_rows":
            parser.add_argument(
                "--skip_bad_rows", action="store_true", help="as the generator's --skip_bad_rows"
            )
            continue
        if f.name == "input_files":
            parser.add_argument(
                "--input_file",
                dest="input_files",
                action="append",
                default=[],
                help="a problem file (or folder, or glob) to recognise instead of --data_dir, "
                "as the generator's --input_file; repeatable",
            )
            continue
        kind = {"float": float, "int": int}.get(str(f.type), str)
        parser.add_argument(
            f"--{f.name}",
            type=kind,
            default=f.default,
            help=f"{_HELP.get(f.name, '')} (%(default)s)",
        )
    accept_dashes(parser)
    return parser.parse_args(argv)


def config_from_args(args: argparse.Namespace) -> MockConfig:
    skip = ("script", "input_files")
    values = {f.name: getattr(args, f.name) for f in fields(MockConfig) if f.name not in skip}
    script = tuple(s.strip() for s in args.script.split(",") if s.strip())
    return MockConfig(**values, script=script, input_files=tuple(args.input_files))


async def serve(cfg: MockConfig, host: str, port: int, port_file: str | None) -> None:
    core = _Endpoint(cfg)
    await core.start(host, port)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    url = f"http://{host}:{core.port}/v1"
    if port_file:
        atomic_write_text(port_file, url + "\n")
    print(f"mock server listening on {url}", flush=True)
    log.info("%d problem versions indexed from %s", len(core.model.book.entries), cfg.data_dir)
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
