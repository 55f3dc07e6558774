r"""Generate SFT samples for every math problem against a vLLM / OpenAI-compatible endpoint.

Each problem is asked in two versions (`subjectives/`: choice block removed, gold = the right
option's text; `multiples/`: choices kept, gold = the choice number), `--n` samples each. Every
sample is stored atomically as `<output>/<source>/<type>/<problem>_<sample>.jsonl`, so a rerun of
the same command skips what is stored and completes the rest (also after `kill -9`).

Usage:
    python generate_sft_data.py --model Qwen/Qwen3-8B --n 4 --worker 64
    python generate_sft_data.py --base_url http://gpu1:8000/v1,http://gpu2:8000/v1 --model M
    python generate_sft_data.py --input_file data/2022_math.jsonl --format sharegpt --k_correct 2
    python generate_sft_data.py --merge_only --format messages

Pipeline order: parse_args() -> load_inputs() -> preflight() -> plan_jobs() -> Runner.worker()
-> send() -> build_record() -> write_state() -> merge_and_report().

Requests: a fixed set of --worker tasks pulls jobs from one queue, so exactly --worker requests
are in flight; each endpoint has one AsyncOpenAI client whose pool holds --worker connections;
the client's own retries (backoff, Retry-After) apply to 429/5xx and connection errors, and a
request that still fails moves to another healthy endpoint before it is recorded as failed. A
reply that does not come within --timeout (default an hour: reasoning models plus vLLM's queue)
gets one more attempt, then is recorded as "timeout after 3600 s (2 attempts); raise --timeout".
`<output>/<source>/failures.jsonl` holds the open failures: at the end of a run, lines of samples
stored since are dropped and each sample keeps its newest line. Samples of one
version whose prompts are identical go out as one request with `n` (see --same_prompt).

Exit codes: 0 all samples stored; 1 some samples failed after retries (see
`<output>/<source>/failures.jsonl`) or the merge failed; 2 bad input, bad flags, preflight
failure (endpoint unreachable, unknown model) or an output folder holding another run's samples
(see sftkit/generation/signature.py; --allow_mixed); 130 interrupted.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import logging
import os
import sys
import time
from collections import Counter, deque
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from tqdm import tqdm

from sftkit.common.flags import add_flags, flag, from_args
from sftkit.common.jsonl import (
    InputError,
    append_jsonl,
    atomic_write_jsonl,
    atomic_write_text,
    dumps,
    read_log,
)
from sftkit.common.oslimits import raise_open_files
from sftkit.generation.signature import (
    SAMPLING,
    describe,
    differences,
    make_signature,
    read_signatures,
    write_signatures,
)
from sftkit.inputs.problems import (
    Version,
    build_prompt,
    build_versions,
    load_problems,
    load_sentences,
    stable_hash,
)
from sftkit.output import layout, merge, report
from sftkit.output.formats import (
    FORMATS,
    REASONING_MODES,
    Conversation,
    add_answer_meta,
    render,
    split_reasoning,
)
from sftkit.watching.index import SampleSet

log = logging.getLogger("generate")

DEFAULT_BASE_URL = "http://localhost:8000/v1"
SENTENCES_NAME = "sentences_ask_boxed.jsonl"
BUNDLED_SENTENCES = Path(__file__).resolve().parent / "data" / SENTENCES_NAME
PREFLIGHT_SECONDS = 8.0  # the whole preflight ends well within the promised 10 s
# A reasoning model's completion can take 15-30 min (32k tokens at 20-30 tokens/s under load), and
# vLLM queues requests beyond its batch without rejecting them, so the wait in its queue counts
# too: an hour fits a long completion plus a comparable wait. A request that still times out
# gets one more attempt (TIMEOUT_ATTEMPTS in all), then is recorded, not retried to death.
DEFAULT_TIMEOUT = 3600.0
TIMEOUT_ATTEMPTS = 2
CONNECT_SECONDS = 10.0  # a server that does not accept a connection in 10 s is not there
SPARE_FILES = 256  # open files besides the connections: data, samples, logs, the interpreter's


class PreflightError(RuntimeError):
    """The endpoint cannot serve this run (unreachable, unknown model)."""


# --------------------------------------------------------------------------- configuration


@dataclass(frozen=True)
class Config:
    """The generator's settings: each field is its flag (sftkit.common.flags), in `-h` order; given as
    typed on the command line, checked and completed in __post_init__."""

    data_dir: str = flag("data", "folder of *_math.jsonl problem files (%(default)s)")
    input_files: tuple[str, ...] = flag(
        None,
        "one problem file instead of <data_dir>/*_math.jsonl; repeatable",
        name="--input_file",
        action="append",
    )
    output_dir: str = flag("sft_output", "where samples go (%(default)s)")
    sentences: str | None = flag(
        None,
        "instruction sentences jsonl (<data_dir>/sentences_ask_boxed.jsonl, else the "
        "bundled data/sentences_ask_boxed.jsonl)",
    )
    n: int = flag(4, "samples per problem and version (%(default)s)", type=int)
    worker: int = flag(
        64, "requests in flight; also each endpoint's connection pool size (%(default)s)", type=int
    )
    fmt: str = flag(
        "messages",
        "record format (%(default)s = OpenAI chat shape, which the original tool called "
        "'sharegpt'; sharegpt = real ShareGPT from/value; prompt_completion = TRL's prompt/"
        "completion, loss on the answer only)",
        name="--format",
        choices=FORMATS,
    )
    reasoning: str = flag(
        "think_tags",
        "where the server's reasoning goes in the record (%(default)s)",
        choices=REASONING_MODES,
    )
    base_urls: tuple[str, ...] = flag(
        DEFAULT_BASE_URL,
        "endpoint, or several comma-separated; requests go to the healthy one with the "
        "fewest in flight (%(default)s)",
        name="--base_url",
    )
    model: str | None = flag(None, "served model name (the first model the server lists)")
    api_key: str | None = flag(None, "$OPENAI_API_KEY, else 'EMPTY'; never printed", repr=False)
    temperature: float = flag(0.7, "(%(default)s)", type=float)
    top_p: float = flag(0.95, "(%(default)s)", type=float)
    max_tokens: int | None = flag(None, "completion limit (the server's)", type=int)
    seed: int | None = flag(
        None,
        "base seed (none); each request gets a seed derived from it and its (problem, "
        "type, sample), so samples differ but a rerun reproduces them",
        type=int,
    )
    reasoning_effort: str | None = flag(None, "e.g. low | medium | high (not sent)")
    extra_body: dict | None = flag(
        None, "JSON object merged into the request body, e.g. '{\"top_k\": 20}'"
    )
    timeout: float = flag(
        DEFAULT_TIMEOUT,
        "seconds to wait for one reply, queue time on the server included (%(default)s: "
        "fits reasoning models); a timed-out request gets one more attempt, then is recorded",
        type=float,
    )
    max_retries: int = flag(
        5,
        "client retries per request on 429/5xx and connection errors, exponential backoff; "
        "429/503 honour Retry-After (%(default)s); timeouts are not retried this way",
        type=int,
    )
    system: str | None = flag(None, "system prompt sent and stored with each sample (none)")
    k_correct: int = flag(
        0,
        "stop requesting a (problem, version) once K of its samples are graded correct "
        "(0 = off). Reads the watcher's <type>_verdicts.jsonl and grades samples it has not "
        "seen yet itself; samples are scheduled breadth-first (sample 0 of every problem, "
        "then sample 1, ...) so verdicts have time to arrive",
        type=int,
    )
    retry_zero: int = flag(
        0,
        "after the first pass, up to R more rounds of n samples each (sample indices n, "
        "n+1, ...; nothing overwritten) for problem versions with zero correct samples (0 = off)",
        type=int,
    )
    same_prompt: bool = flag(
        False,
        "give all samples of a version the prompt of sample 0, so they go out as one "
        "request with n>1 (cheaper prefill). By default each sample index has its own "
        "instruction sentence and placement; samples whose prompts coincide are still batched",
        action="store_true",
    )
    max_n: int = flag(
        16, "most samples per request when batching; 1 = never batch (%(default)s)", type=int
    )
    allow_mixed: bool = flag(
        False,
        "run even if the output folder holds samples of another model or other sampling "
        "settings (see <output>/run_signature.json); the folder is then marked mixed in "
        "report.json",
        action="store_true",
    )
    merge_only: bool = flag(False, "only merge validated samples and report", action="store_true")
    no_merge: bool = flag(
        False,
        "end without merging and reporting (the launcher merges once, after the watcher)",
        action="store_true",
    )
    no_progress: bool = flag(False, "no progress bar", action="store_true")
    http: str = flag(
        "aiohttp",
        "transport under the openai client; aiohttp costs a third of the CPU per "
        "request at hundreds of connections (%(default)s)",
        choices=("aiohttp", "httpx"),
    )

    def __post_init__(self) -> None:
        """Check values (InputError naming the flag) and derive the rest: the flag's text
        "a/v1, b/v1/" -> base_urls ("a/v1", "b/v1"); --extra_body's JSON -> a dict."""
        for name in ("n", "worker", "max_n"):
            if getattr(self, name) < 1:
                raise InputError(f"--{name}: must be at least 1")
        for name in ("k_correct", "retry_zero", "max_retries"):
            if getattr(self, name) < 0:
                raise InputError(f"--{name}: must not be negative")
        if self.timeout <= 0:
            raise InputError("--timeout: must be positive")
        extra = self.extra_body
        if isinstance(extra, str):
            try:
                extra = json.loads(extra) if extra else None
            except json.JSONDecodeError as exc:
                raise InputError(f"--extra_body: invalid JSON: {exc.msg}") from None
            if extra is not None and not isinstance(extra, dict):
                raise InputError("--extra_body: must be a JSON object")
        urls = self.base_urls
        if isinstance(urls, str):
            urls = tuple(u.strip().rstrip("/") for u in urls.split(",") if u.strip())
        if not urls:
            raise InputError("--base_url: no URL given")
        derived = {
            "input_files": tuple(self.input_files or ()),
            "sentences": self.sentences or default_sentences(self.data_dir),
            "base_urls": urls,
            "extra_body": extra,
            "api_key": self.api_key or os.environ.get("OPENAI_API_KEY") or "EMPTY",
        }
        for name, value in derived.items():
            object.__setattr__(self, name, value)  # frozen: set once, here


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description="Generate SFT samples (both versions of every problem, n samples each) "
        "against a vLLM / OpenAI-compatible endpoint. Rerun the same command to resume.",
        epilog="Exit codes: 0 done; 1 some samples failed after retries (see "
        "<output>/<source>/failures.jsonl; rerun to retry them) or the merge failed; "
        "2 bad input or flags, endpoint unreachable, unknown model, output folder holding "
        "another run's samples; 130 interrupted.",
    )
    add_flags(p, Config)
    return p.parse_args(argv)


def config_from_args(args: argparse.Namespace) -> Config:
    """The frozen Config of parsed flags; a bad value raises InputError naming the flag."""
    return from_args(Config, args)


# --------------------------------------------------------------------------- inputs


def input_paths(cfg: Config) -> list[Path]:
    """The problem files of this run: --input_file, else every <data_dir>/*_math.jsonl."""
    if cfg.input_files:
        paths = [Path(f) for f in cfg.input_files]
        for path in paths:
            if not path.is_file():
                raise InputError(f"{path}: no such file")
    else:
        folder = Path(cfg.data_dir)
        if not folder.is_dir():
            raise InputError(f"{folder}: no such folder")
        paths = sorted(folder.glob("*_math.jsonl"))
        if not paths:
            raise InputError(f"{folder}: no *_math.jsonl problem files")
    stems = [p.stem for p in paths]
    dup = {s for s in stems if stems.count(s) > 1}
    if dup:
        raise InputError(f"{paths[stems.index(dup.pop())]}: two input files share the source name")
    for path in paths:
        # The source name is a folder next to merged/ and names its merged file: it must not
        # be either of those, nor hidden from the watcher and the merge.
        if path.stem in (layout.MERGED_DIR, layout.ALL_NAME) or path.stem.startswith("."):
            raise InputError(
                f"{path}: the source name {path.stem!r} is reserved for merged output; "
                "rename the file"
            )
    return paths


def default_sentences(data_dir: str) -> str:
    """<data_dir>/sentences_ask_boxed.jsonl, else the file bundled with this tool, so a folder of
    problems alone works: default_sentences("my_data") -> "<repo>/data/sentences_ask_boxed.jsonl".
    """
    own = Path(data_dir) / SENTENCES_NAME
    return str(own if own.is_file() else BUNDLED_SENTENCES)


def load_inputs(cfg: Config) -> tuple[list[Version], list[str]]:
    """Every version of every problem, and the instruction sentences; raises InputError."""
    versions = []
    for path in input_paths(cfg):
        for problem in load_problems(path):
            versions.extend(build_versions(problem))
    if not Path(cfg.sentences).is_file():
        raise InputError(f"{cfg.sentences}: no such file (instruction sentences)")
    sentences = load_sentences(cfg.sentences)
    log.info("instructions: %d sentences from %s", len(sentences), cfg.sentences)
    return versions, sentences


def ensure_open_files(cfg: Config) -> None:
    """Make room for one socket per connection; InputError if the system will not allow it.

    Each endpoint's pool may hold --worker connections. With the common soft limit of 1,024,
    --worker 1024 would otherwise end in "Too many open files" tracebacks mid-run.
    """
    need = cfg.worker + SPARE_FILES
    limit = raise_open_files(cfg.worker * len(cfg.base_urls) + SPARE_FILES)
    if limit is not None and limit < need:
        raise InputError(
            f"--worker {cfg.worker}: needs about {need} open files, but this process may open "
            f"only {limit}; raise the limit (ulimit -n {need}) or lower --worker"
        )


# --------------------------------------------------------------------------- run signature


def run_signature(cfg: Config, model: str, sentences: list[str]) -> dict:
    """What makes one sample what it is (sftkit.generation.signature): model, prompt, sampling settings."""
    sampling = {name: getattr(cfg, name) for name in SAMPLING}
    return make_signature(model, sentences, cfg.same_prompt, **sampling)


def sample_paths(output_dir: str) -> Iterator[str]:
    """Every stored sample file of the folder: <source>/<type>/<p>_<s>.jsonl."""
    out = Path(output_dir)
    for source in layout.list_sources(out):
        for type_ in layout.source_types(out / source, samples=True):
            folder = out / source / type_
            for _, _, name in layout.list_sample_files(folder)[0]:
                yield os.path.join(folder, name)


def models_in_samples(output_dir: str) -> Counter:
    """meta.model of every stored sample (for a folder from before signatures were kept)."""
    models: Counter = Counter()
    for path in sample_paths(output_dir):
        try:
            meta = layout.read_sample(path).get("meta")
        except (OSError, UnicodeDecodeError, ValueError):
            continue  # the watcher reports unreadable samples; this is only about models
        model = meta.get("model") if isinstance(meta, dict) else None
        if isinstance(model, str):  # a server that names no model proves no mismatch
            models[model] += 1
    return models


def check_signature(cfg: Config, sig: dict) -> tuple[list[dict], bool] | None:
    """Stop (InputError) a run whose signature the output folder does not hold while it holds
    samples: they would count as done for this run. Otherwise return what to record in
    run_signature.json (signatures, adopted from legacy samples?), or None if it is there.

    A folder without run_signature.json but with samples (written before signatures were kept)
    is judged by its samples' meta.model: all of this run's model -> this run's settings are
    recorded; another model -> refused like a signature mismatch.
    """
    out = Path(cfg.output_dir)
    sig_file = layout.signature_file(out)
    ways_out = (
        "\n  Its stored samples would count as done for this run. Use another --output_dir, or "
        "--allow_mixed to add to this folder on purpose (report.json will then say it is mixed)."
    )
    held = read_signatures(out)
    if held is None:
        models = models_in_samples(cfg.output_dir)
        others = sorted(m for m in models if m != sig["model"])
        if not others:
            if models:
                log.info(
                    "%s has no %s: its %d stored samples are all of model %s; recording this "
                    "run's settings",
                    out,
                    sig_file.name,
                    sum(models.values()),
                    sig["model"],
                )
            return [sig], bool(models)
        found = ", ".join(f"{models[m]} of model {m}" for m in others)
        if not cfg.allow_mixed:
            raise InputError(
                f"{out} holds samples of another model: {found} (no {sig_file.name}: read "
                f"from the samples' meta.model)\n  this run: model {sig['model']}{ways_out}"
            )
        log.warning(
            "--allow_mixed: adding model %s to %s, which holds %s", sig["model"], out, found
        )
        return [{"model": m} for m in others] + [sig], True
    sigs = held["signatures"]
    if sig in sigs:
        return None
    if next(sample_paths(cfg.output_dir), None) is None:
        log.info("%s holds no samples: replacing its run signature with this run's", out)
        return [sig], False
    if not cfg.allow_mixed:
        runs = "".join(f"\n  {describe(s)}" for s in sigs)
        raise InputError(
            f"{out} holds samples of another run ({sig_file}):{runs}\n  this run "
            f"differs in: {', '.join(differences(sigs[0], sig))}{ways_out}"
        )
    log.warning(
        "--allow_mixed: %s now holds samples of %d runs (report.json says it is mixed)",
        out,
        len(sigs) + 1,
    )
    return [*sigs, sig], bool(held.get("adopted_from_samples"))


# --------------------------------------------------------------------------- planning


@dataclass(frozen=True)
class Job:
    version: Version
    prompt: str
    samples: tuple[int, ...]  # sample indices answered by this one request (n = len)
    round: int = 0  # 0 = first pass, r = retry_zero round r


@dataclass
class Result:
    job: Job
    choices: list[dict] | None = None
    usage: dict | None = None
    model: str | None = None
    endpoint: str = ""
    error: str | None = None
    status: int | None = None
    timed_out: bool = False  # the reply did not come within --timeout


def key_of(version: Version) -> str:
    """The "<source>/<type>" a version's samples are counted under: "2022_math/multiples"."""
    return f"{version.problem.source}/{version.type}"


def scan_stored(cfg: Config, versions: list[Version]) -> dict[str, SampleSet]:
    """Names of complete sample files per "<source>/<type>", one bit per sample (a million
    stored samples take a few megabytes); removes temp files of a killed run.

    Concurrent generators on one output folder are not supported, so any `.*.tmp` left in a
    type folder is an interrupted write of ours.
    """
    stored: dict[str, SampleSet] = {}
    for version in versions:
        key = key_of(version)
        if key in stored:
            continue
        names = SampleSet()
        folder = layout.type_dir(cfg.output_dir, version.problem.source, version.type)
        if folder.is_dir():
            with os.scandir(folder) as it:
                for entry in it:
                    if entry.name.endswith(".tmp") and entry.name.startswith("."):
                        os.unlink(entry.path)
                    elif layout.parse_sample_name(entry.name) and entry.stat().st_size > 0:
                        names.add(entry.name)
        stored[key] = names
    return stored


def plan_jobs(
    cfg: Config,
    versions: list[Version],
    sentences: list[str],
    stored: dict[str, SampleSet],
    indices: dict[int, range] | range,
    stats: dict[str, dict[str, int]],
    round_no: int = 0,
) -> list[Job]:
    """Jobs for the missing samples, breadth-first: sample 0 of every problem, then sample 1, ...

    `indices` is one range for all versions, or a range per position in `versions`.
    Samples of one version whose prompts are identical share a request (n > 1).
    n=2, nothing stored -> [Job(v0, samples=(0,)), Job(v1, (0,)), ..., Job(v0, (1,)), ...];
    with --same_prompt -> [Job(v0, samples=(0, 1)), Job(v1, (0, 1)), ...]
    """
    jobs: list[tuple[tuple, Job]] = []
    for pos, version in enumerate(versions):
        wanted = indices.get(pos) if isinstance(indices, dict) else indices
        if not wanted:
            continue
        key, p = key_of(version), version.problem.index
        st = stats[key]
        st["planned"] += len(wanted)
        if round_no:
            st["retry_samples"] += len(wanted)
        names = stored[key]
        groups: dict[str, list[int]] = {}
        for s in wanted:
            if layout.sample_name(p, s) in names:
                st["skipped_existing"] += 1
                continue
            prompt = build_prompt(version, sentences, 0 if cfg.same_prompt else s)
            groups.setdefault(prompt, []).append(s)
        for prompt, samples in groups.items():
            for i in range(0, len(samples), cfg.max_n):
                chunk = tuple(samples[i : i + cfg.max_n])
                order = (chunk[0], pos)
                jobs.append((order, Job(version, prompt, chunk, round_no)))
    jobs.sort(key=lambda item: item[0])
    return [job for _, job in jobs]


# --------------------------------------------------------------------------- verdicts


class Verdicts:
    """Correct-sample counts per (source, type, problem) for --k_correct / --retry_zero.

    The watcher's verdict log (sftkit.output.layout.VerdictLog: last line per file wins) decides; a
    stored sample it has not graded yet is graded here with validate_sft_data.validate_item.
    Log reads are incremental and throttled, so asking before every request stays cheap.
    """

    REFRESH_SECONDS = 0.5

    def __init__(self, output_dir: str, stored: dict[str, SampleSet]):
        self.output_dir = Path(output_dir)
        # The generator's own record of stored samples (it adds each one it writes): a lookup is
        # per problem, SampleSet.samples(p).
        self.stored = stored
        # Imported here, so only --k_correct / --retry_zero runs pay for loading the grader.
        from validate_sft_data import validate_item

        self.validate_item = validate_item
        self.logs: dict[str, layout.VerdictLog] = {}  # key -> its verdict log, read so far
        self.inline: dict[str, dict[str, bool]] = {}  # key -> file -> is_correct (graded here)
        self._checked: dict[str, float] = {}

    def _refresh(self, key: str) -> dict[str, dict]:
        """The latest verdict per file name of `key`'s log (re-read at most every REFRESH_SECONDS)."""
        log_ = self.logs.get(key)
        if log_ is None:
            source, vtype = key.split("/")
            log_ = self.logs[key] = layout.VerdictLog(
                layout.verdict_log(layout.type_dir(self.output_dir, source, vtype))
            )
        now = time.monotonic()
        if now - self._checked.get(key, -1e9) >= self.REFRESH_SECONDS:
            self._checked[key] = now
            log_.refresh()
        return log_.latest

    def _grade(self, key: str, name: str) -> bool | None:
        """Grade one stored sample; None if its file has gone."""
        source, vtype = key.split("/")
        try:
            record = layout.read_sample(layout.type_dir(self.output_dir, source, vtype) / name)
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as exc:
            log.warning("could not grade %s/%s: %s", key, name, exc)
            return False
        try:
            return bool(self.validate_item(record).get("is_correct"))
        except Exception as exc:  # a grader bug must not stop generation
            log.warning("could not grade %s/%s: %s", key, name, exc)
            return False

    def correct(self, version: Version) -> int:
        """Number of correct samples stored for this problem and version."""
        key = key_of(version)
        logged = self._refresh(key)
        inline = self.inline.setdefault(key, {})
        count = 0
        p = version.problem.index
        stored = self.stored.get(key)
        for name in (layout.sample_name(p, s) for s in (stored.samples(p) if stored else ())):
            if name in logged:
                count += bool(logged[name].get("is_correct"))
            elif name in inline:
                count += inline[name]
            else:
                verdict = self._grade(key, name)
                if verdict is not None:
                    inline[name] = verdict
                    count += verdict
        return count


# --------------------------------------------------------------------------- endpoints


class Endpoint:
    """One base URL: its own AsyncOpenAI client with a connection pool sized to --worker."""

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
        data = json.loads(response.content)
        choices = data.get("choices")
        if not isinstance(choices, list) or not choices:
            raise ValueError("response has no choices")
        if not all(isinstance(c, dict) for c in choices):
            raise ValueError("response choices are not objects")
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
            result.error = f"timeout after {ep.timeout:g} s; raise --timeout"
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


# --------------------------------------------------------------------------- storage


def build_record(cfg: Config, result: Result, sample: int, choice: dict, created: float) -> dict:
    r"""The stored sample: rendered conversation + `answer` + `meta` (see ARCHITECTURE.md).

    content "<think>a</think>\boxed{3}" -> messages[-1].content "<think>\na\n</think>\n\n\boxed{3}"
    """
    job, version = result.job, result.job.version
    problem = version.problem
    msg = choice.get("message")
    msg = msg if isinstance(msg, dict) else {}
    given = msg.get("reasoning_content") or msg.get("reasoning")
    content = msg.get("content")
    reasoning, final = split_reasoning(
        content if isinstance(content, str) else None, given if isinstance(given, str) else None
    )
    conv = Conversation(prompt=job.prompt, content=final, reasoning=reasoning, system=cfg.system)
    gid = f"{problem.source}/{version.type}/{problem.index}_{sample}"
    usage = result.usage or {}
    k = len(job.samples)
    completion = usage.get("completion_tokens")
    finish = choice.get("finish_reason")
    meta = {
        "source": problem.source,
        "problem_index": problem.index,
        "problem_id": problem.id,
        "type": version.type,
        "sample_index": sample,
        "generation_id": gid,
        "model": result.model,
        "prompt": job.prompt,
        "finish_reason": finish,
        "truncated": finish == "length",
        # A request with n > 1 reports one total: the completion tokens are split evenly.
        "usage": {
            "prompt_tokens": usage.get("prompt_tokens"),
            "completion_tokens": completion // k if isinstance(completion, int) else None,
        },
        "reasoning": reasoning,
        "format": cfg.fmt,
        "reasoning_mode": cfg.reasoning,
        "created": created,
    }
    return add_answer_meta(render(conv, cfg.fmt, cfg.reasoning), cfg.fmt, version.gold, meta)


def prune_failures(cfg: Config, stored: dict[str, SampleSet]) -> None:
    """Leave in each source's failures.jsonl only its open failures: the last line per sample
    that is still not stored. A rerun that stores a sample that once failed closes its failure.
    Lines that name no sample this run knows are kept as they are."""
    for source in sorted({key.split("/", 1)[0] for key in stored}):
        path = layout.failures_file(cfg.output_dir, source)
        records, bad = read_log(path)
        if not records:
            continue
        open_: dict[tuple, dict] = {}
        for lineno, rec in records:
            names = stored.get(f"{source}/{rec.get('type')}")
            p, s = rec.get("problem_index"), rec.get("sample_index")
            if names is None or not isinstance(p, int) or not isinstance(s, int):
                open_[("line", lineno)] = rec
            elif layout.sample_name(p, s) not in names:
                open_.pop((rec["type"], p, s), None)  # the newest line per sample, in file order
                open_[(rec["type"], p, s)] = rec
        if len(open_) == len(records) and not bad:
            continue
        if open_:
            atomic_write_jsonl(path, open_.values())
        else:
            path.unlink(missing_ok=True)
        closed = len(records) - len(open_)
        log.info("%s: %d failure line(s) closed or superseded, %d open", path, closed, len(open_))


def failure_record(cfg: Config, job: Job, sample: int, error: str, result: Result) -> dict:
    """One failures.jsonl line: {"generation_id": "src/multiples/3_1", ..., "error": "timeout"}."""
    p = job.version.problem
    return {
        "generation_id": layout.generation_id(p.source, job.version.type, p.index, sample),
        "source": p.source,
        "problem_index": p.index,
        "problem_id": p.id,
        "type": job.version.type,
        "sample_index": sample,
        "round": job.round,
        "error": error,
        "status": result.status,
        "endpoint": result.endpoint,
        "max_retries": cfg.max_retries,
        "failed_at": time.time(),
    }


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
    """A fixed set of --worker tasks pulling jobs from a deque: exactly --worker in flight."""

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
            timeouts = 0
            while True:
                ep = pick_endpoint(self.endpoints, tried)
                if totals.first_request is None:
                    totals.first_request = time.time()
                result = await send(ep, body, job)
                totals.requests += 1
                if result.error is None:
                    break
                if result.timed_out:
                    # Slow, not broken: one more attempt, then a failure naming the limit.
                    timeouts += 1
                    if timeouts < TIMEOUT_ATTEMPTS:
                        totals.retries += 1
                        continue
                    result.error = (
                        f"timeout after {ep.timeout:g} s ({timeouts} attempts); raise --timeout"
                    )
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
        bar.set_postfix_str(f"fail={t.failed} retry={t.retries} trunc={t.truncated}", refresh=False)
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
            await asyncio.gather(*workers)
        finally:
            ticker.cancel()
            self.totals.cpu_seconds += time.process_time() - cpu
            self.update_bar()
            if self.bar is not None:
                self.bar.close()
                self.bar = None


async def generate(cfg: Config, versions: list[Version], sentences: list[str]) -> dict:
    """Preflight, first pass, retry_zero rounds; returns the run summary."""
    started = time.time()
    totals = Totals()

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
        # The SDK's ~90k import-time objects live to the end: keep full collections (60 ms each,
        # several per 10k requests) from walking them again. Each request allocates hundreds of
        # short-lived containers, so the default 700-allocation young generation is collected
        # every few requests: 20,000 cut the time in gc from 1.0 s to 0.2 s per 5,000 requests.
        gc.freeze()
        gc.set_threshold(20_000, 20, 10)
        stats = {
            key_of(v): dict.fromkeys((*merge.GENERATION_COUNTERS, "problems"), 0) for v in versions
        }
        for v in versions:  # one version per problem and type: the plan the report checks
            stats[key_of(v)]["problems"] += 1
        stored = scan_stored(cfg, versions)
        verdicts = Verdicts(cfg.output_dir, stored) if (cfg.k_correct or cfg.retry_zero) else None
        runner = Runner(cfg, model, endpoints, totals, stats, stored, verdicts)
        log.info(
            "%d problems x 2 versions x n=%d from %d source(s); %d worker(s) on %s; model %s",
            len(versions) // 2,
            cfg.n,
            len({v.problem.source for v in versions}),
            cfg.worker,
            ", ".join(e.url for e in endpoints),
            model,
        )
        await runner.run(plan_jobs(cfg, versions, sentences, stored, range(cfg.n), stats))
        rounds_done = 0
        for r in range(1, cfg.retry_zero + 1):
            zero = {
                pos: range(cfg.n * r, cfg.n * (r + 1))
                for pos, v in enumerate(versions)
                if verdicts.correct(v) == 0
            }
            if not zero:
                break
            log.info("retry_zero round %d: %d problem version(s) with zero correct", r, len(zero))
            await runner.run(plan_jobs(cfg, versions, sentences, stored, zero, stats, round_no=r))
            rounds_done = r
        prune_failures(cfg, stored)
    finally:
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
    }


# --------------------------------------------------------------------------- reporting


def write_state(cfg: Config, summary: dict) -> None:
    """<output>/.generation.json, read by the report (schema in ARCHITECTURE.md)."""
    t: Totals = summary["totals"]
    state = {
        "model": summary["model"],
        "n": cfg.n,
        "k_correct": cfg.k_correct,
        "retry_zero": cfg.retry_zero,
        "rounds_done": summary["rounds_done"],
        "by_source_type": summary["stats"],
        "same_prompt": cfg.same_prompt,
        "updated_at": time.time(),
        "timing": {
            "first_request": t.first_request,
            "last_response": t.last_response,
            "cpu_seconds": t.cpu_seconds,
            "requests": t.requests,
            "retries": t.retries,
            "written": t.written,
            "failed": t.failed,
        },
    }
    atomic_write_text(layout.generation_file(cfg.output_dir), json.dumps(state, indent=2) + "\n")


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


def merge_and_report(cfg: Config) -> bool:
    """Merge validated samples and print the report; True unless the merge itself failed."""
    try:
        stats = merge.merge_outputs(
            cfg.output_dir, cfg.fmt, reasoning_mode=cfg.reasoning, system=cfg.system
        )
        figures = report.write_report(cfg.output_dir)
        log.info("merged: %s", stats)
        print(report.format_report(figures), flush=True)
    except Exception as exc:  # the samples are safe on disk; report and keep the exit code honest
        log.error("merge failed: %s: %s", type(exc).__name__, exc)
        return False
    return True


# --------------------------------------------------------------------------- main


class _TqdmHandler(logging.StreamHandler):
    """Log lines printed above the progress bar instead of through it."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            tqdm.write(self.format(record), file=sys.stderr)
        except Exception:
            self.handleError(record)


def setup_logging() -> None:
    if log.handlers:
        return
    handler = _TqdmHandler()
    handler.setFormatter(
        logging.Formatter("%(asctime)s generate %(levelname)s %(message)s", "%H:%M:%S")
    )
    log.addHandler(handler)
    log.setLevel(logging.INFO)
    log.propagate = False
    # httpx2 logs every request at INFO and openai every retry: noise (and CPU) at 1,000 req/s.
    for name in ("httpx2", "httpx", "openai"):
        logging.getLogger(name).setLevel(logging.WARNING)


def main(argv: list[str] | None = None) -> int:
    setup_logging()
    args = parse_args(argv)
    try:
        cfg = config_from_args(args)
        if cfg.merge_only:
            return 0 if merge_and_report(cfg) else 1
        versions, sentences = load_inputs(cfg)
        ensure_open_files(cfg)
    except InputError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    try:
        summary = asyncio.run(generate(cfg, versions, sentences))
    except (PreflightError, InputError) as exc:  # InputError: the folder holds another run
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        log.warning("interrupted: stored samples are kept; rerun the same command to resume")
        return 130
    write_state(cfg, summary)
    print_summary(summary)
    merged = cfg.no_merge or merge_and_report(cfg)
    failed = summary["totals"].failed
    if failed:
        log.error(
            "%d sample(s) failed after retries: see %s/<source>/failures.jsonl; rerun the "
            "same command to retry them",
            failed,
            cfg.output_dir,
        )
    return 1 if failed or not merged else 0


if __name__ == "__main__":
    sys.exit(main())
