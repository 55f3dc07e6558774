"""Throughput of the stand-in endpoint with many concurrent connections, through AsyncOpenAI.

Starts `python -m sftkit.demo.mock_server` in its own process (so the client does not share its GIL),
sends --requests chat completions over --concurrency connections, and prints requests/s, the
server's CPU time per request and the error count. `--client aiohttp` swaps the openai client
for a bare aiohttp session to measure the server's own ceiling (the openai client costs a few ms
of CPU per request, which on 2 shared cores is usually the limit). With --latency > 0 the ideal rate is
concurrency / latency; the printed ratio says how close the pair of processes gets on this box.

Usage:
    python bench/bench_mock_server.py --concurrency 1024 --requests 6000 --latency 0.5
    python bench/bench_mock_server.py --concurrency 256 --requests 3000 --stream
    python bench/bench_mock_server.py --concurrency 1024 --requests 10000 --client aiohttp
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import httpx2
import openai

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from sftkit.inputs.problems import (  # noqa: E402
    build_prompt,
    build_versions,
    load_problems,
    load_sentences,
)

MODEL = "bench-model"


@dataclass(frozen=True)
class Config:
    concurrency: int
    requests: int
    latency: float
    stream: bool
    client: str


def parse_args(argv=None) -> Config:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--concurrency", type=int, default=1024)
    parser.add_argument("--requests", type=int, default=6000)
    parser.add_argument("--latency", type=float, default=0.5, help="server latency in seconds")
    parser.add_argument("--stream", action="store_true")
    parser.add_argument("--client", choices=("openai", "aiohttp"), default="openai")
    a = parser.parse_args(argv)
    return Config(a.concurrency, a.requests, a.latency, a.stream, a.client)


def prompts(count: int) -> list[str]:
    data = REPO / "data"
    versions = [v for p in load_problems(data / "sample_math.jsonl") for v in build_versions(p)]
    sentences = load_sentences(data / "sentences_ask_boxed.jsonl")
    return [build_prompt(versions[i % len(versions)], sentences, i) for i in range(count)]


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def drive(cfg: Config, base_url: str, texts: list[str]) -> tuple[float, int]:
    limits = httpx2.Limits(
        max_connections=cfg.concurrency, max_keepalive_connections=cfg.concurrency
    )
    http = openai.DefaultAsyncHttpxClient(limits=limits)
    gate = asyncio.Semaphore(cfg.concurrency)
    errors = 0
    async with openai.AsyncOpenAI(
        base_url=base_url, api_key="bench", max_retries=0, timeout=300, http_client=http
    ) as client:

        async def one(text: str) -> None:
            nonlocal errors
            messages = [{"role": "user", "content": text}]
            async with gate:
                try:
                    resp = await client.chat.completions.create(
                        model=MODEL, messages=messages, stream=cfg.stream
                    )
                    if cfg.stream:
                        async for _ in resp:
                            pass
                except openai.OpenAIError:
                    errors += 1

        started = time.monotonic()
        await asyncio.gather(*(one(t) for t in texts))
        return time.monotonic() - started, errors


async def drive_aiohttp(cfg: Config, base_url: str, texts: list[str]) -> tuple[float, int]:
    import json

    import aiohttp

    errors = 0
    pending = iter(texts)
    connector = aiohttp.TCPConnector(limit=cfg.concurrency)
    async with aiohttp.ClientSession(connector=connector) as session:

        async def worker() -> None:
            nonlocal errors
            for text in pending:
                body = {"model": MODEL, "messages": [{"role": "user", "content": text}]}
                if cfg.stream:
                    body["stream"] = True
                try:
                    async with session.post(f"{base_url}/chat/completions", data=json.dumps(body),
                                            headers={"Content-Type": "application/json"}) as resp:  # fmt: skip
                        await resp.read()
                        errors += resp.status != 200
                except aiohttp.ClientError:
                    errors += 1

        started = time.monotonic()
        await asyncio.gather(*(worker() for _ in range(cfg.concurrency)))
        return time.monotonic() - started, errors


def main(argv=None) -> int:
    cfg = parse_args(argv)
    texts = prompts(cfg.requests)
    with tempfile.TemporaryDirectory() as tmp:
        url_file = Path(tmp) / "url"
        cmd = [sys.executable, "-m", "sftkit.demo.mock_server", "--data_dir", str(REPO / "data"),
               "--port", "0", "--port_file", str(url_file), "--model", MODEL,
               "--latency", str(cfg.latency)]  # fmt: skip
        env = {**os.environ, "PYTHONPATH": str(REPO)}
        server = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL)
        try:
            deadline = time.monotonic() + 30
            while not url_file.exists():
                if server.poll() is not None or time.monotonic() > deadline:
                    print("bench: the stand-in endpoint did not start", file=sys.stderr)
                    return 1
                time.sleep(0.05)
            cpu_before = cpu_seconds(server.pid)
            run = drive if cfg.client == "openai" else drive_aiohttp
            elapsed, errors = asyncio.run(run(cfg, url_file.read_text().strip(), texts))
            cpu = cpu_seconds(server.pid) - cpu_before
        finally:
            server.terminate()
            server.wait(10)
    rate = cfg.requests / elapsed
    ideal = cfg.concurrency / cfg.latency if cfg.latency else float("inf")
    print(
        f"client={cfg.client} concurrency={cfg.concurrency} requests={cfg.requests} stream={cfg.stream} "
        f"latency={cfg.latency}s: {elapsed:.1f} s, {rate:.0f} req/s "
        f"({rate / ideal:.2f} of the ideal {ideal:.0f}), server CPU {1000 * cpu / cfg.requests:.2f} "
        f"ms/request, errors={errors}, load average {os.getloadavg()[0]:.1f}"
    )
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
