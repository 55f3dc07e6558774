"""The generator's settings: one frozen Config whose fields are its flags, and their parser.

cfg = config_from_args(parse_args(["--n", "8"]))  # Config(n=8, ...); a bad value raises
InputError naming the flag. generate_sft_data.py and sftkit.pipeline both parse through here.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path

from sftkit.common.flags import add_flags, flag, flag_of, from_args
from sftkit.common.jsonl import InputError
from sftkit.common.oslimits import raise_open_files
from sftkit.grading.judge import JUDGE_MODES, JudgeConfig
from sftkit.inputs.decontam import DEFAULT_NGRAM
from sftkit.inputs.fields import parse_fields
from sftkit.inputs.instructions import BUNDLED
from sftkit.inputs.near_dup import DEFAULT_THRESHOLD
from sftkit.inputs.near_dup import MODES as NEAR_DUP_MODES
from sftkit.inputs.problems import VERSION_MODES
from sftkit.output.filters import DEFAULT_FILTERS, FILTERS, FilterConfig, parse_filters
from sftkit.output.formats import FORMATS, REASONING_MODES
from sftkit.output.selection import Selection, parse_pass_rate

log = logging.getLogger("generate")

DEFAULT_BASE_URL = "http://localhost:8000/v1"
SENTENCES_NAME = "sentences_ask_boxed.jsonl"
# A reasoning model's completion can take 15-30 min (32k tokens at 20-30 tokens/s under load), and
# vLLM queues requests beyond its batch without rejecting them, so the wait in its queue counts
# too: an hour fits a long completion plus a comparable wait. A request that still times out
# gets one more attempt (TIMEOUT_ATTEMPTS in all), then is recorded, not retried to death.
DEFAULT_TIMEOUT = 3600.0
EXPORT_FORMATS = ("parquet",)  # --export: copies of the merged JSONL (sftkit/output/export.py)
SPARE_FILES = 256  # open files besides the connections: data, samples, logs, the interpreter's


# --------------------------------------------------------------------------- configuration


@dataclass(frozen=True)
class Config:
    """The generator's settings: each field is its flag (sftkit.common.flags), in `-h` order; given as
    typed on the command line, checked and completed in __post_init__."""

    data_dir: str = flag(
        "data",
        "folder of problem files: every .jsonl, .json, .parquet, .csv and datasets "
        "save_to_disk folder in it (%(default)s)",
    )
    input_files: tuple[str, ...] = flag(
        None,
        "a problem file (or save_to_disk folder, or a quoted glob such as 'sets/*.parquet') "
        "instead of --data_dir; repeatable",
        name="--input_file",
        action="append",
    )
    fields: str | None = flag(
        None,
        "field names, overriding detection, e.g. problem=question,answer=target,id=uid "
        "(roles: problem, answer, id, solution, choices)",
    )
    versions: str = flag(
        "auto",
        "which versions to ask: auto = a problem with choices as free response and multiple "
        "choice, one without choices once (free response); both = every problem twice (the "
        "original behaviour); free; choice (%(default)s)",
        choices=VERSION_MODES,
    )
    skip_bad_rows: bool = flag(
        False,
        "skip rows without a problem or gold (and undecodable lines) instead of stopping; "
        "logs how many and the first few, report.json counts them",
        action="store_true",
    )
    output_dir: str = flag("sft_output", "where samples go (%(default)s)")
    sentences: str | None = flag(
        None,
        "instruction sentences jsonl (<data_dir>/sentences_ask_boxed.jsonl, else the "
        "bundled English and Korean sets: each problem gets a sentence in its own language)",
    )
    n: int = flag(4, "samples per problem and version (%(default)s)", type=int)
    worker: int = flag(
        64,
        "requests in flight; also each endpoint's connection pool size (%(default)s)",
        name="--requests_in_flight",
        aliases=("--worker",),
        type=int,
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
        name="--request_timeout_s",
        aliases=("--timeout",),
        type=float,
    )
    max_retries: int = flag(
        5,
        "client retries per request on 429/5xx, malformed 200 replies and connection errors, "
        "exponential backoff; "
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
    decontaminate: tuple[str, ...] = flag(
        (),
        "benchmark problem files (jsonl, json, parquet, csv or a save_to_disk folder); input "
        "problems sharing a word n-gram with one are dropped before any request and listed in "
        "<output>/contamination.jsonl",
        nargs="+",
        metavar="PATH",
    )
    decontam_ngram: int = flag(
        DEFAULT_NGRAM,
        "words in a row shared with a benchmark problem that make an input problem "
        "contaminated (%(default)s; shorter benchmark problems match on their whole text)",
        type=int,
    )
    near_dup: str = flag(
        "report",
        "near-duplicate input problems (MinHash LSH, Jaccard >= --near_dup_threshold on word "
        "2-shingles): report lists clusters in <output>/near_duplicates.jsonl; keep_one also "
        "drops all but the first of each cluster (per gold) before any request (%(default)s)",
        choices=NEAR_DUP_MODES,
    )
    near_dup_threshold: float = flag(
        DEFAULT_THRESHOLD, "Jaccard similarity of near duplicates (%(default)s)", type=float
    )
    merge_only: bool = flag(False, "only merge validated samples and report", action="store_true")
    no_merge: bool = flag(
        False,
        "end without merging and reporting (the launcher merges once, after the watcher)",
        action="store_true",
    )
    filters: tuple[str, ...] | None = flag(
        None,
        "filters the merge applies to correct samples, comma-separated, or all | none "
        f"(default: {','.join(DEFAULT_FILTERS)}, plus too_long when --max_completion_tokens "
        "is given); each dropped sample is listed with its reason in merged/filtered.jsonl. "
        f"Choose from {', '.join(FILTERS)}",
    )
    max_completion_tokens: int | None = flag(
        None,
        "too_long's limit: the merge drops samples with more completion tokens (off)",
        type=int,
    )
    pass_rate: tuple[float, float] | None = flag(
        None,
        "LO,HI: merge only problem versions whose pass rate (correct / graded samples) is in "
        "[LO, HI], e.g. 0.1,0.9 (all)",
    )
    judge_model: str | None = flag(
        None,
        "ask this model whether rule-rejected answers (mismatch, unparseable) equal the gold, "
        "at merge time (off)",
    )
    judge_base_url: str | None = flag(None, "the judge's endpoint (the first --base_url)")
    judge: str = flag(
        "report",
        "what the judge's YES does: report = count and list the recovered samples; accept = "
        "also merge them (%(default)s)",
        choices=JUDGE_MODES,
    )
    browse_samples: int = flag(
        20,
        "samples shown in report.html's sample browser per source, version and grader "
        "reason (%(default)s; the same ones on every merge)",
        type=int,
    )
    export: tuple[str, ...] = flag(
        (),
        "also write the merged files in this format beside the JSONL (parquet), listed in "
        "merged/README.md",
        nargs="+",
        choices=EXPORT_FORMATS,
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
                raise InputError(f"{flag_of(Config, name)}: must be at least 1")
        for name in ("k_correct", "retry_zero", "max_retries", "browse_samples"):
            if getattr(self, name) < 0:
                raise InputError(f"{flag_of(Config, name)}: must not be negative")
        if self.timeout <= 0:
            raise InputError(f"{flag_of(Config, 'timeout')}: must be positive")
        parse_fields(self.fields)  # a malformed --fields fails here, before any file is read
        if self.decontam_ngram < 1:
            raise InputError("--decontam_ngram: must be at least 1")
        if not 0 < self.near_dup_threshold <= 1:
            raise InputError("--near_dup_threshold: must be in (0, 1]")
        for path in self.decontaminate or ():
            if not Path(path).exists():
                raise InputError(f"--decontaminate: {path}: no such file or folder")
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
        if self.max_completion_tokens is not None and self.max_completion_tokens < 1:
            raise InputError("--max_completion_tokens: must be at least 1")
        filters = self.filters
        if filters is None or isinstance(filters, str):
            try:
                filters = (
                    parse_filters(filters)
                    if filters is not None
                    else DEFAULT_FILTERS + ("too_long",) * (self.max_completion_tokens is not None)
                )
            except ValueError as exc:
                raise InputError(f"--filters: {exc}") from None
        if "too_long" in filters and self.max_completion_tokens is None:
            raise InputError("--filters too_long: needs --max_completion_tokens")
        band = self.pass_rate
        if isinstance(band, str):
            try:
                band = parse_pass_rate(band)
            except ValueError as exc:
                raise InputError(f"--pass_rate: {exc}") from None
        derived = {
            "filters": tuple(filters),
            "pass_rate": band,
            "input_files": tuple(self.input_files or ()),
            "export": tuple(self.export or ()),
            "decontaminate": tuple(self.decontaminate or ()),
            "sentences": self.sentences or default_sentences(self.data_dir),
            "base_urls": urls,
            "extra_body": extra,
            "api_key": self.api_key or os.environ.get("OPENAI_API_KEY") or "EMPTY",
        }
        for name, value in derived.items():
            object.__setattr__(self, name, value)  # frozen: set once, here

    def selection(self) -> Selection:
        """What the merge keeps: Selection(filters, pass-rate band, judge mode)."""
        filters = FilterConfig(self.filters, self.max_completion_tokens)
        return Selection(filters=filters, pass_rate=self.pass_rate, judge=self.judge)

    def judge_config(self) -> JudgeConfig | None:
        """The judge's settings, or None when --judge_model is not given."""
        if not self.judge_model:
            return None
        url = (self.judge_base_url or self.base_urls[0]).rstrip("/")
        return JudgeConfig(model=self.judge_model, base_url=url, api_key=self.api_key)


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


def default_sentences(data_dir: str) -> str:
    """<data_dir>/sentences_ask_boxed.jsonl, else the file bundled with this tool (English and
    Korean sentences, tagged), so a folder of problems alone works:
    default_sentences("my_data") -> "<repo>/data/sentences_ask_boxed.jsonl".
    """
    own = Path(data_dir) / SENTENCES_NAME
    return str(own if own.is_file() else BUNDLED)


def ensure_open_files(cfg: Config) -> None:
    """Make room for one socket per connection; InputError if the system will not allow it.

    Each endpoint's pool may hold --requests_in_flight connections. With the common soft limit of 1,024,
    --requests_in_flight 1024 would otherwise end in "Too many open files" tracebacks mid-run.
    """
    need = cfg.worker + SPARE_FILES
    limit = raise_open_files(cfg.worker * len(cfg.base_urls) + SPARE_FILES)
    if limit is not None and limit < need:
        raise InputError(
            f"--requests_in_flight {cfg.worker}: needs about {need} open files, but this process "
            f"may open only {limit}; raise the limit (ulimit -n {need}) or lower "
            "--requests_in_flight"
        )
