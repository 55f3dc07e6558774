"""The runner: --requests_in_flight tasks pulling jobs from one queue, storing each reply as it comes.

await generate(cfg, versions, sentences) -> {"model", "stats", "rounds_done", "totals", "wall"}:
preflight, the signature check, the first pass, then --retry_zero rounds.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import os
import sys
import time
from collections import deque
from dataclasses import dataclass

from tqdm import tqdm

from sftkit.common.diskfull import is_disk_full
from sftkit.common.jsonl import append_jsonl, atomic_write_text, dumps
from sftkit.generation.client import request_body, send
from sftkit.generation.config import Config
from sftkit.generation.endpoints import Endpoint, pick_endpoint, preflight
from sftkit.generation.plan import Job, Result, key_of, plan_jobs, scan_stored
from sftkit.generation.screen import Screening, write_screening
from sftkit.generation.signature import write_signatures
from sftkit.generation.signature_check import check_signature, run_signature
from sftkit.generation.state import GENERATION_COUNTERS
from sftkit.generation.stopping import Stop
from sftkit.generation.storage import build_record, failure_record, prune_failures
from sftkit.generation.verdicts import Verdicts
from sftkit.inputs.problems import Version
from sftkit.output import layout
from sftkit.watching.index import SampleSet

TIMEOUT_ATTEMPTS = 2
MALFORMED_BACKOFF_S = 0.5  # the openai client's first retry delay, doubled per retry

log = logging.getLogger("generate")


# --------------------------------------------------------------------------- running


@dataclass
class Totals:
    """This run's figures for the closing log lines and .generation.json's "timing"."""

    written: int = 0  # samples
    failed: int = 0
    truncated: int = 0
    first_request: float | None = None  # time.time() of the first request, the last response
    last_response: float | None = None
    requests: int = 0  # requests, their retries and tokens
    retries: int = 0
    tokens_in: int = 0
    tokens_out: int = 0
    cpu_seconds: float = 0.0  # generator CPU from the first request to the end of each pass


class Runner:
    """A fixed set of --requests_in_flight tasks pulling jobs from a deque: exactly that many in flight."""

    def __init__(
        self,
        cfg: Config,
        model: str,
        endpoints: list[Endpoint],
        totals: Totals,
        stats: dict[str, dict[str, int]],
        stored: dict[str, SampleSet],
        verdicts: Verdicts | None,
    ):
        self.cfg, self.model, self.endpoints = cfg, model, endpoints
        self.totals, self.stats, self.stored, self.verdicts = totals, stats, stored, verdicts
        self.jobs: deque[Job] = deque()
        self.folders: dict[str, str] = {}  # key -> "<type folder>/"
        self.bar: tqdm | None = None

    def next_job(self) -> Job | None:
        while self.jobs:
            job = self.jobs.popleft()
            if self.verdicts and self.cfg.k_correct:
                if self.verdicts.correct(job.version) >= self.cfg.k_correct:
                    self.stats[key_of(job.version)]["skipped_k_correct"] += len(job.samples)
                    if self.bar is not None:
                        self.bar.total -= len(job.samples)
                    continue
            return job
        return None

    async def worker(self) -> None:
        totals = self.totals
        while (job := self.next_job()) is not None:
            body = request_body(self.cfg, self.model, job)
            tried: set[str] = set()
            timeouts = malformed = 0
            while True:
                ep = pick_endpoint(self.endpoints, tried)
                if totals.first_request is None:
                    totals.first_request = time.time()
                result = await send(ep, body, job)
                totals.requests += 1
                if result.error is None:
                    break
                if result.malformed:
                    # A 200 that carries no sample (cut-off body, no choices): a server fault
                    # like a 5xx, retried with the client's backoff up to --max_retries times.
                    malformed += 1
                    if malformed > self.cfg.max_retries:
                        break
                    totals.retries += 1
                    await asyncio.sleep(min(MALFORMED_BACKOFF_S * 2 ** (malformed - 1), 8.0))
                    continue
                if result.timed_out:
                    # Slow, not broken: one more attempt, then a failure naming the limit.
                    timeouts += 1
                    if timeouts < TIMEOUT_ATTEMPTS:
                        totals.retries += 1
                        continue
                    result.error = f"timeout after {ep.timeout:g} s ({timeouts} attempts); raise --request_timeout_s"
                    break
                # Connection trouble, overload or a server error after the client's retries: rest
                # this endpoint and give the job to another one if there is one. A 4xx other
                # than 429 is about the request itself and would fail anywhere.
                if result.status is not None and result.status < 500 and result.status != 429:
                    break
                ep.down_until = time.monotonic() + Endpoint.COOLDOWN_SECONDS
                tried.add(ep.url)
                if len(tried) >= len(self.endpoints):
                    break
            totals.last_response = time.time()
            self.store(result)

    def store(self, result: Result) -> None:
        cfg, job, totals = self.cfg, result.job, self.totals
        key = key_of(job.version)
        st = self.stats[key]
        p = job.version.problem
        choices = result.choices or []
        if result.usage:
            totals.tokens_in += result.usage.get("prompt_tokens") or 0
            totals.tokens_out += result.usage.get("completion_tokens") or 0
        now = time.time()
        folder = self.folders.get(key)
        if folder is None:  # building a Path per sample costs more than the rest of store()
            where = layout.type_dir(cfg.output_dir, p.source, job.version.type)
            folder = self.folders[key] = f"{where}{os.sep}"
        for i, sample in enumerate(job.samples):
            if i < len(choices):
                record = build_record(cfg, result, sample, choices[i], now)
                name = layout.sample_name(p.index, sample)
                try:
                    # In the loop, not in a thread: a writer thread contending for the GIL makes
                    # every socket call of the loop wait for it (measured: 2 ms per request on a
                    # busy 2-core machine), while a file write costs about 0.1 ms.
                    atomic_write_text(folder + name, dumps(record) + "\n")
                except OSError as exc:
                    if is_disk_full(exc):
                        raise  # the run ends: every later write would fail the same way
                    self.record_failure(job, sample, f"write failed: {exc}", result)
                    continue
                self.stored[key].add(name)  # Verdicts counts from the same record
                st["written"] += 1
                totals.written += 1
                totals.truncated += record["meta"]["truncated"]
            else:
                error = (
                    result.error or f"server returned {len(choices)} of {len(job.samples)} choices"
                )
                self.record_failure(job, sample, error, result)

    def record_failure(self, job: Job, sample: int, error: str, result: Result) -> None:
        p, totals = job.version.problem, self.totals
        append_jsonl(
            layout.failures_file(self.cfg.output_dir, p.source),
            failure_record(self.cfg, job, sample, error, result),
        )
        self.stats[key_of(job.version)]["failed"] += 1
        totals.failed += 1
        if totals.failed <= 5:
            log.warning(
                "failed %s/%s/%d_%d: %s", p.source, job.version.type, p.index, sample, error
            )

    async def refresh_bar(self) -> None:
        interval = 0.5 if sys.stderr.isatty() else 30.0
        while True:
            await asyncio.sleep(interval)
            self.update_bar()

    def update_bar(self) -> None:
        bar, t = self.bar, self.totals
        if bar is None:
            return
        # Only the counts that are not 0: in an 80-column pane every column of the bar counts.
        counts = (("fail", t.failed), ("retry", t.retries), ("trunc", t.truncated))
        bar.set_postfix_str(" ".join(f"{k}={v}" for k, v in counts if v), refresh=False)
        bar.update(t.written + t.failed - bar.n)

    async def run(self, jobs: list[Job]) -> None:
        self.jobs = deque(jobs)
        total = sum(len(j.samples) for j in jobs)
        if not total:
            return
        t = self.totals
        base = t.written + t.failed
        if not self.cfg.no_progress:
            self.bar = tqdm(
                total=base + total,
                initial=base,
                desc="generate",
                unit="sample",
                # tqdm's default less the padding: the bar keeps its width in an 80-column pane.
                bar_format="{desc}: {percentage:3.0f}%|{bar}| {n_fmt}/{total_fmt} "
                "[{elapsed}<{remaining}, {rate_fmt}{postfix}]",
                dynamic_ncols=True,
                mininterval=0.5,
                smoothing=0.1,
                file=sys.stderr,
            )
        ticker = asyncio.create_task(self.refresh_bar())
        cpu = time.process_time()
        try:
            workers = [
                asyncio.create_task(self.worker()) for _ in range(min(self.cfg.worker, len(jobs)))
            ]
            try:
                await asyncio.gather(*workers)
            except BaseException:  # a full disk in one worker, or the run cancelled: all stop
                for w in workers:
                    w.cancel()
                await asyncio.gather(*workers, return_exceptions=True)
                raise
        finally:
            ticker.cancel()
            self.totals.cpu_seconds += time.process_time() - cpu
            self.update_bar()
            if self.bar is not None:
                self.bar.close()
                self.bar = None


async def generate(
    cfg: Config,
    versions: list[Version],
    sentences: list[str],
    screening: Screening | None = None,
    stop: Stop | None = None,
) -> dict:
    """Preflight, first pass, retry_zero rounds; returns the run summary. With `screening`
    (sftkit.generation.screen), `versions` are its kept ones and its lists are written once the
    folder's signature is checked. A run cancelled after preflight (Ctrl-C, SIGTERM, SIGHUP: see
    stopping.py) returns its figures so far, with "interrupted" naming the signal."""
    started = time.time()
    totals = Totals()
    interrupted, rounds_done = None, 0

    async def count_retries(request) -> None:
        if request.headers.get("x-stainless-retry-count", "0") != "0":
            totals.retries += 1

    endpoints = all_endpoints = [Endpoint(url, cfg, count_retries) for url in cfg.base_urls]
    gc_threshold = gc.get_threshold()
    try:
        # With --model the folder is checked before any request at all, else once preflight has
        # named the model; the signature is recorded only for a run that passed preflight.
        record = (
            check_signature(cfg, run_signature(cfg, cfg.model, sentences)) if cfg.model else None
        )
        endpoints, model = await preflight(endpoints, cfg.model)
        if cfg.model is None:
            record = check_signature(cfg, run_signature(cfg, model, sentences))
        if record is not None:
            write_signatures(cfg.output_dir, record[0], adopted_from_samples=record[1])
        if screening is not None:
            write_screening(cfg.output_dir, screening)
        # The SDK's ~90k import-time objects live to the end: keep full collections (60 ms each,
        # several per 10k requests) from walking them again. Each request allocates hundreds of
        # short-lived containers, so the default 700-allocation young generation is collected
        # every few requests: 20,000 cut the time in gc from 1.0 s to 0.2 s per 5,000 requests.
        gc.freeze()
        gc.set_threshold(20_000, 20, 10)
        stats = {key_of(v): dict.fromkeys((*GENERATION_COUNTERS, "problems"), 0) for v in versions}
        for v in versions:  # one version per problem and type: the plan the report checks
            # Problems keep their file row as number: one dropped by the screening, a bad row
            # skipped, an identical problem merged or a problem without choices under
            # --versions auto leaves a gap, and the plan still spans it, so the report never
            # takes a later problem's samples for strays.
            st = stats[key_of(v)]
            st["problems"] = max(st["problems"], v.problem.index + 1)
        stored = scan_stored(cfg, versions)
        verdicts = Verdicts(cfg.output_dir, stored) if (cfg.k_correct or cfg.retry_zero) else None
        runner = Runner(cfg, model, endpoints, totals, stats, stored, verdicts)
        log.info(
            "%d problems, %d versions x n=%d from %d source(s); %d worker(s) on %s; model %s",
            len({(v.problem.source, v.problem.index) for v in versions}),
            len(versions),
            cfg.n,
            len({v.problem.source for v in versions}),
            cfg.worker,
            ", ".join(e.url for e in endpoints),
            model,
        )
        if stop is not None:
            stop.attach()
        try:
            await runner.run(plan_jobs(cfg, versions, sentences, stored, range(cfg.n), stats))
            for r in range(1, cfg.retry_zero + 1):
                zero = {
                    pos: range(cfg.n * r, cfg.n * (r + 1))
                    for pos, v in enumerate(versions)
                    if verdicts.correct(v) == 0
                }
                if not zero:
                    break
                log.info(
                    "retry_zero round %d: %d problem version(s) with zero correct", r, len(zero)
                )
                await runner.run(
                    plan_jobs(cfg, versions, sentences, stored, zero, stats, round_no=r)
                )
                rounds_done = r
        except asyncio.CancelledError:
            interrupted = stop.name() if stop is not None else "SIGINT"
        prune_failures(cfg, stored)
    finally:
        if stop is not None:
            stop.detach()
        for ep in all_endpoints:
            await ep.client.close()
        gc.unfreeze()  # leave the interpreter as we found it (the tests run main() in-process)
        gc.set_threshold(*gc_threshold)
    return {
        "model": model,
        "stats": stats,
        "rounds_done": rounds_done,
        "totals": totals,
        "wall": time.time() - started,
        "screening": screening.summary if screening is not None else {},
        "interrupted": interrupted,
    }


def print_summary(summary: dict) -> None:
    t: Totals = summary["totals"]
    stats = summary["stats"].values()
    planned = sum(s["planned"] for s in stats)
    skipped = sum(s["skipped_existing"] for s in stats)
    skipped_k = sum(s["skipped_k_correct"] for s in stats)
    window = (t.last_response or 0) - (t.first_request or 0)
    rate = t.written / window if window > 0 else 0.0
    print(
        f"generation summary: planned {planned}, skipped {skipped} stored + {skipped_k} "
        f"k_correct, written {t.written} ({t.truncated} truncated), failed {t.failed}, "
        f"requests {t.requests}, retries {t.retries}\n"
        f"tokens in {t.tokens_in}, out {t.tokens_out}; wall {summary['wall']:.1f} s, "
        f"{rate:.1f} completions/s, retry_zero rounds {summary['rounds_done']}",
        flush=True,
    )
    if summary.get("interrupted"):
        print(
            f"interrupted by {summary['interrupted']}: the {t.written} sample(s) written are "
            "stored; rerun the same command to resume",
            flush=True,
        )
