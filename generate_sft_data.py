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

The command line over sftkit/generation/. Pipeline order: parse_args() (config.py) ->
load_inputs() (plan.py) -> screen() (screen.py: --decontaminate, --near_dup) -> preflight() (endpoints.py) -> plan_jobs() (plan.py) -> Runner.worker()
(runner.py) -> send() (client.py) -> build_record() (storage.py) -> write_state() (state.py) ->
merge_and_report() (sftkit/output/finish.py).

Requests: a fixed set of --worker tasks pulls jobs from one queue, so exactly --worker requests
are in flight; each endpoint has one AsyncOpenAI client whose pool holds --worker connections;
the client's own retries (backoff, Retry-After) apply to 429/5xx and connection errors, and a
request that still fails moves to another healthy endpoint before it is recorded as failed. A
200 that carries no sample (a cut-off JSON body, no choices, content null with no reasoning) is
retried up to --max_retries times, then recorded as e.g. "malformed reply: no choices". A
reply that does not come within --timeout (default an hour: reasoning models plus vLLM's queue)
gets one more attempt, then is recorded as "timeout after 3600 s (2 attempts); raise --timeout".
`<output>/<source>/failures.jsonl` holds the open failures: at the end of a run, lines of samples
stored since are dropped and each sample keeps its newest line. Samples of one
version whose prompts are identical go out as one request with `n` (see --same_prompt).

Exit codes: 0 all samples stored; 1 some samples failed after retries (see
`<output>/<source>/failures.jsonl`) or the merge failed; 2 bad input, bad flags, preflight
failure (endpoint unreachable, unknown model) or an output folder holding another run's samples
(see sftkit/generation/signature.py; --allow_mixed); 3 the disk is full (one line names the
file and the free space; what is stored is whole: free space and rerun); 130 Ctrl-C, 143
SIGTERM, 129 SIGHUP (stored samples are kept, no partial file; rerun the same command).
"""

from __future__ import annotations

from sftkit.common import startup

if __name__ == "__main__":  # a Ctrl-C while the imports below load: one line, exit 130
    startup.quiet_ctrl_c()

import asyncio
import logging
import os
import sys

from tqdm import tqdm

from sftkit.common.diskfull import EXIT_DISK_FULL, disk_full_message
from sftkit.common.jsonl import InputError
from sftkit.generation import config as gen_config
from sftkit.generation.client import request_body as request_body
from sftkit.generation.client import send as send
from sftkit.generation.config import DEFAULT_BASE_URL as DEFAULT_BASE_URL
from sftkit.generation.config import Config as Config
from sftkit.generation.config import config_from_args as config_from_args
from sftkit.generation.config import ensure_open_files
from sftkit.generation.endpoints import Endpoint as Endpoint
from sftkit.generation.endpoints import PreflightError
from sftkit.generation.plan import Job as Job
from sftkit.generation.plan import load_inputs as load_inputs
from sftkit.generation.plan import load_run_inputs
from sftkit.generation.runner import generate, print_summary
from sftkit.generation.screen import screen
from sftkit.generation.signature_check import check_signature as check_signature
from sftkit.generation.signature_check import run_signature as run_signature
from sftkit.generation.state import write_state
from sftkit.generation.stopping import Stop
from sftkit.generation.verdicts import Verdicts as Verdicts
from sftkit.output import commands
from sftkit.output.finish import merge_and_report

log = logging.getLogger("generate")


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


def parse_args(argv: list[str] | None = None):
    """The generator's flags, declared once on `Config` in sftkit/generation/config.py."""
    return gen_config.parse_args(argv)


def command_line(argv: list[str] | None) -> list[str]:
    """The command as typed (sys.argv), or this script's name and `argv` when called in-process."""
    return list(sys.argv) if argv is None else ["generate_sft_data.py", *argv]


def finish(cfg: Config) -> bool:
    """Merge (filters, pass-rate band, judge as the flags say), then report.json, report.html and
    merged/README.md, and print the report (sftkit/output/finish.py)."""
    return merge_and_report(
        cfg.output_dir,
        cfg.fmt,
        cfg.reasoning,
        cfg.system,
        cfg.selection(),
        cfg.judge_config(),
        browse_samples=cfg.browse_samples,
        export_formats=cfg.export,
    )


def main(argv: list[str] | None = None) -> int:
    startup.loaded()
    setup_logging()
    args = parse_args(argv)
    stop = Stop.install()
    try:
        return _run(args, stop, command_line(argv))
    except (KeyboardInterrupt, asyncio.CancelledError):
        log.warning(
            "interrupted by %s: stored samples are kept; rerun the same command to resume",
            stop.name(),
        )
        return stop.exit_code()
    except OSError as exc:
        message = disk_full_message(exc, args.output_dir)
        if message is None:
            raise
        print(f"error: {message}", file=sys.stderr)
        return EXIT_DISK_FULL
    finally:
        stop.restore()


def _run(args, stop: Stop, line: list[str]) -> int:
    """main() once the flags are parsed; `line` is the command recorded in commands.jsonl."""
    try:
        cfg = config_from_args(args)
        if cfg.merge_only:
            if os.path.isdir(cfg.output_dir):  # a merge of nothing creates no folder
                commands.record(cfg.output_dir, "merge", line)
            return 0 if finish(cfg) else 1
        run_inputs = load_run_inputs(cfg)
        versions, sentences = run_inputs.versions, run_inputs.sentences
        screening = screen(cfg, versions)  # before any request: nothing is spent on a drop
        ensure_open_files(cfg)
    except InputError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    try:
        summary = asyncio.run(generate(cfg, screening.kept, sentences, screening, stop))
    except (PreflightError, InputError) as exc:  # InputError: the folder holds another run
        print(f"error: {exc}", file=sys.stderr)
        return 2
    summary["inputs"] = run_inputs.summary
    # Once the run has written its folder (a refused run leaves none), for report.html and the
    # dataset card's rebuild commands.
    commands.record(cfg.output_dir, "generate", line)
    write_state(cfg, summary)
    print_summary(summary)
    if summary["interrupted"]:
        return stop.exit_code()  # no merge: the user asked to stop (the launcher merges later)
    merged = cfg.no_merge or finish(cfg)
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
