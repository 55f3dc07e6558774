"""Endpoints: one AsyncOpenAI client per base URL, the transport under it, and preflight.

Endpoint(url, cfg, on_request).client is the SDK client (its retries, backoff and timeouts);
timeout_aware() relabels a reply that did not come in time so it is not retried six times;
preflight(endpoints, model) -> (usable endpoints, model) or PreflightError.
"""

from __future__ import annotations

import asyncio
import logging
import sys
import time

from sftkit.generation.config import Config

PREFLIGHT_SECONDS = 8.0  # the whole preflight ends well within the promised 10 s
CONNECT_SECONDS = 10.0  # a server that does not accept a connection in 10 s is not there

log = logging.getLogger("generate")


class PreflightError(RuntimeError):
    """The endpoint cannot serve this run (unreachable, unknown model)."""


# --------------------------------------------------------------------------- endpoints


class Endpoint:
    """One base URL: its own AsyncOpenAI client with a connection pool sized to --requests_in_flight."""

    COOLDOWN_SECONDS = 5.0

    def __init__(self, url: str, cfg: Config, on_request):
        import httpx2
        import openai

        self.url = url
        self.inflight = 0
        self.down_until = 0.0
        limits = httpx2.Limits(
            max_connections=cfg.worker, max_keepalive_connections=cfg.worker, keepalive_expiry=60
        )
        # aiohttp under the SDK's httpx2 interface: same client, retries and timeouts, but about a
        # third of the CPU per request of httpx2's own pool at hundreds of connections.
        backend = (
            openai.DefaultAioHttpClient if cfg.http == "aiohttp" else openai.DefaultAsyncHttpxClient
        )
        http_client = timeout_aware(backend)(limits=limits, event_hooks={"request": [on_request]})
        self.timeout = cfg.timeout
        self.client = openai.AsyncOpenAI(
            base_url=url,
            api_key=cfg.api_key,
            max_retries=cfg.max_retries,
            timeout=httpx2.Timeout(cfg.timeout, connect=min(cfg.timeout, CONNECT_SECONDS)),
            http_client=http_client,
        )

    def healthy(self, now: float) -> bool:
        return self.down_until <= now


_TIMEOUT_AWARE: dict[type, type] = {}


def timeout_aware(backend: type) -> type:
    """`backend` (the SDK's aiohttp or httpx2 client class) with send() sorting timeouts out.

    The openai client retries a timeout like any transient error, up to --max_retries times: six
    waits of --timeout for a reply that takes longer. So a reply that did not come in time leaves
    send() as an APITimeoutError marked `no_reply`: the client passes its own errors on without
    retrying them, and the worker gives it one more attempt. The aiohttp transport labels a
    refused or dropped connection a (connect) timeout: that goes back to a connection error,
    which the client retries as before.
    """
    if backend in _TIMEOUT_AWARE:
        return _TIMEOUT_AWARE[backend]
    import httpx2
    import openai

    class TimeoutAware(backend):
        async def send(self, request, **kwargs):
            try:
                return await super().send(request, **kwargs)
            except httpx2.TimeoutException as exc:
                aiohttp = sys.modules.get("aiohttp")  # loaded if it is the transport
                cause = exc.__cause__
                if (
                    aiohttp is not None
                    and isinstance(cause, aiohttp.ClientConnectionError)
                    and not isinstance(cause, TimeoutError)
                ):
                    raise httpx2.ConnectError(str(cause), request=request) from cause
                if isinstance(exc, httpx2.ConnectTimeout | httpx2.PoolTimeout):
                    raise  # no connection yet: the client's retries fit
                timed_out = openai.APITimeoutError(request=request)
                timed_out.no_reply = True  # send() tells it from a connect timeout by this
                raise timed_out from exc

    _TIMEOUT_AWARE[backend] = TimeoutAware
    return TimeoutAware


def describe_connection_error(exc: BaseException, url: str) -> str:
    """What went wrong with a connection, in words: APIConnectionError caused by a refused
    connect -> "connection refused at http://127.0.0.1:1/v1"."""
    seen, chain = set(), []
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        chain.append(exc)
        os_error = getattr(exc, "os_error", None)  # aiohttp keeps the socket error here
        if isinstance(os_error, OSError):
            chain.append(os_error)
        exc = exc.__cause__ or exc.__context__
    for e in chain:
        if isinstance(e, ConnectionRefusedError):
            return f"connection refused at {url}"
        if isinstance(e, ConnectionResetError):
            return f"connection reset by {url}"
    for e in chain:
        if type(e).__name__ == "ServerDisconnectedError" or "disconnect" in str(e).lower():
            return f"{url} closed the connection without a reply"
        if isinstance(e, TimeoutError) or "timeout" in type(e).__name__.lower():
            return f"no connection to {url} within {CONNECT_SECONDS:g} s"
    inner = chain[-1] if chain else None
    return f"cannot connect to {url}: {inner}" if inner is not None else f"cannot connect to {url}"


def pick_endpoint(endpoints: list[Endpoint], exclude: set[str]) -> Endpoint | None:
    """The healthy endpoint with the fewest requests in flight (else the soonest to recover)."""
    if len(endpoints) == 1:
        return None if exclude else endpoints[0]
    now = time.monotonic()
    live = [e for e in endpoints if e.url not in exclude]
    if not live:
        return None
    healthy = [e for e in live if e.healthy(now)] or sorted(live, key=lambda e: e.down_until)[:1]
    return min(healthy, key=lambda e: e.inflight)


async def preflight(endpoints: list[Endpoint], model: str | None) -> tuple[list[Endpoint], str]:
    """GET /models on every endpoint; keep those that serve the model. Raises PreflightError.

    Unreachable endpoints are dropped with a warning while at least one other answers.
    """
    import openai

    async def served(ep: Endpoint) -> list[str] | str:
        try:
            page = await asyncio.wait_for(
                ep.client.with_options(max_retries=0, timeout=PREFLIGHT_SECONDS - 1).models.list(),
                PREFLIGHT_SECONDS,
            )
            return [m.id for m in page.data]
        except TimeoutError:
            return f"no answer within {PREFLIGHT_SECONDS:.0f} s"
        except openai.APIStatusError as exc:
            key_hint = " (wrong or missing key: --api_key or $OPENAI_API_KEY)"
            hints = {401: key_hint, 403: key_hint, 404: " (does --base_url end in /v1?)"}
            return f"HTTP {exc.status_code} from GET /models{hints.get(exc.status_code, '')}"
        except openai.APITimeoutError as exc:
            if getattr(exc, "no_reply", False):
                return f"no answer within {PREFLIGHT_SECONDS - 1:.0f} s"
            return describe_connection_error(exc, ep.url)
        except openai.APIConnectionError as exc:
            return describe_connection_error(exc, ep.url)
        except openai.APIError as exc:
            return f"{type(exc).__name__}: {exc.message}"

    answers = await asyncio.gather(*(served(ep) for ep in endpoints))
    reachable = [
        (ep, ids) for ep, ids in zip(endpoints, answers, strict=True) if isinstance(ids, list)
    ]
    # "connection refused at <url>" names its endpoint already; other answers get it prefixed.
    why = {
        ep.url: ids if ep.url in ids else f"{ep.url}: {ids}"
        for ep, ids in zip(endpoints, answers, strict=True)
        if isinstance(ids, str)
    }
    for text in why.values():
        log.warning("endpoint unreachable: %s", text)
    if not reachable:
        detail = "; ".join(why.values())
        raise PreflightError(f"cannot reach any endpoint ({detail}); is the server running?")
    if model is None:
        ids = reachable[0][1]
        if not ids:
            raise PreflightError(f"{reachable[0][0].url} serves no models")
        model = ids[0]
        log.info("--model not given: using %s", model)
    usable = [ep for ep, ids in reachable if model in ids]
    for ep, ids in reachable:
        if model not in ids:
            log.warning("endpoint %s does not serve %s (serves: %s)", ep.url, model, ", ".join(ids))
    if not usable:
        served_all = sorted({i for _, ids in reachable for i in ids})
        raise PreflightError(
            f"model {model!r} is not served; served models: {', '.join(served_all) or '(none)'}"
        )
    return usable, model
