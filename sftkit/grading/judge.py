r"""An optional LLM judge for answers the rules rejected: is the extracted answer the gold?

Off by default. Only `mismatch` and `unparseable` verdicts are asked about (never `no_box`,
`empty_box`, `timeout`, nor a sample a filter dropped): the rules found a box they could not
match, and a model may see that `\frac{\sqrt2}{2}` and `1/\sqrt{2}` agree where the rules did
not. The request holds the problem, the gold and the extracted answer only, never the solution;
the prompt is short and strict, thinking is off (`chat_template_kwargs.enable_thinking` false,
what Qwen3 and other hybrid models read) and `max_tokens` is small.

It fails safe: an error, a timeout or a reply that is neither YES nor NO leaves the rule's
verdict (JudgeResult.equivalent None, with the error). Judges accept wrong answers too, so
recovered samples are merged only with `--judge accept` (README "The judge").

Pipeline order: build_messages() -> judge_one() (per job, never raises) -> judge_all().

Usage:
    cfg = JudgeConfig(model="Qwen/Qwen3-8B", base_url="http://localhost:8000/v1")
    results = run_judge(cfg, [JudgeJob("s/subjectives/0_1.jsonl", "Find x.", "1/2", "0.5")])
    results[0].equivalent   # True, False, or None (error: the rule verdict stands)
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Sequence
from dataclasses import dataclass

JUDGED_REASONS = ("mismatch", "unparseable")  # the only rule verdicts a judge may overturn
JUDGE_MODES = ("report", "accept")
MAX_PROBLEM_CHARS = 4000  # a judge needs the question, not pages of it
MAX_ANSWER_CHARS = 500

SYSTEM = (
    "You check math answers. Reply with exactly one word: YES if the candidate answer is "
    "mathematically equivalent to the reference answer for this problem, NO otherwise. "
    "Different notation for the same value is YES. A different value, an incomplete answer, "
    "or several candidate values are NO."
)


@dataclass(frozen=True)
class JudgeConfig:
    model: str
    base_url: str = "http://localhost:8000/v1"
    api_key: str | None = None  # None: OPENAI_API_KEY, else "EMPTY" (what vLLM accepts)
    timeout: float = 60.0  # seconds per attempt
    max_retries: int = 2  # the client's own retries (429, 5xx, connection errors)
    max_tokens: int = 8  # "YES" or "NO" and nothing else
    concurrency: int = 16  # requests in flight


@dataclass(frozen=True)
class JudgeJob:
    key: str  # what the caller knows the sample by, e.g. "src/subjectives/0_1.jsonl"
    problem: str
    gold: str
    extracted: str


@dataclass(frozen=True)
class JudgeResult:
    job: JudgeJob
    equivalent: bool | None  # None: no verdict (see error); the rule verdict stands
    reply: str | None = None
    error: str | None = None


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[:limit] + " …"


def build_messages(problem: str, gold: str, extracted: str) -> list[dict]:
    """The chat messages of one judge request:
    ("Find x.", "1/2", "0.5") -> [{"role": "system", ...}, {"role": "user", "content":
    "Problem:\nFind x.\n\nReference answer: 1/2\nCandidate answer: 0.5\n\nEquivalent? YES or NO."}]
    """
    user = (
        f"Problem:\n{_clip(problem.strip(), MAX_PROBLEM_CHARS)}\n\n"
        f"Reference answer: {_clip(str(gold).strip(), MAX_ANSWER_CHARS)}\n"
        f"Candidate answer: {_clip(extracted.strip(), MAX_ANSWER_CHARS)}\n\n"
        "Equivalent? YES or NO."
    )
    return [{"role": "system", "content": SYSTEM}, {"role": "user", "content": user}]


def parse_reply(text: str | None) -> bool | None:
    """YES -> True, NO -> False, anything else -> None: "Yes." -> True; "YES and NO" -> None."""
    words = [w.strip(".!*`'\" ").upper() for w in (text or "").split()]
    words = [w for w in words if w]
    if len(words) != 1 or words[0] not in ("YES", "NO"):
        return None
    return words[0] == "YES"


def make_client(cfg: JudgeConfig):
    import openai

    return openai.AsyncOpenAI(
        base_url=cfg.base_url,
        api_key=cfg.api_key or os.environ.get("OPENAI_API_KEY") or "EMPTY",
        timeout=cfg.timeout,
        max_retries=cfg.max_retries,
    )


async def judge_one(client, cfg: JudgeConfig, job: JudgeJob) -> JudgeResult:
    """One judge request; every error ends in JudgeResult.error, never raised."""
    import openai

    try:
        response = await client.chat.completions.create(
            model=cfg.model,
            messages=build_messages(job.problem, job.gold, job.extracted),
            temperature=0.0,
            max_tokens=cfg.max_tokens,
            extra_body={"chat_template_kwargs": {"enable_thinking": False}},
        )
        reply = response.choices[0].message.content if response.choices else None
    except openai.APIStatusError as exc:
        return JudgeResult(job, None, error=f"HTTP {exc.status_code}: {str(exc.message)[:200]}")
    except openai.APITimeoutError:
        return JudgeResult(job, None, error=f"timeout after {cfg.timeout:g} s")
    except openai.APIError as exc:
        where = f" at {cfg.base_url}" if isinstance(exc, openai.APIConnectionError) else ""
        return JudgeResult(job, None, error=f"{type(exc).__name__}{where}: {str(exc)[:200]}")
    except (ValueError, TypeError, AttributeError, IndexError) as exc:
        return JudgeResult(job, None, error=f"bad response: {exc}")
    verdict = parse_reply(reply)
    if verdict is None:
        return JudgeResult(job, None, reply, error=f"not YES or NO: {str(reply)[:80]!r}")
    return JudgeResult(job, verdict, reply)


async def judge_all(cfg: JudgeConfig, jobs: Sequence[JudgeJob]) -> list[JudgeResult]:
    """Every job judged, at most cfg.concurrency in flight; results in job order."""
    if not jobs:
        return []
    client = make_client(cfg)
    gate = asyncio.Semaphore(max(1, cfg.concurrency))

    async def bounded(job: JudgeJob) -> JudgeResult:
        async with gate:
            return await judge_one(client, cfg, job)

    try:
        return list(await asyncio.gather(*(bounded(j) for j in jobs)))
    finally:
        await client.close()


def run_judge(cfg: JudgeConfig, jobs: Sequence[JudgeJob]) -> list[JudgeResult]:
    """judge_all() from synchronous code (the merge step, the watcher)."""
    return asyncio.run(judge_all(cfg, jobs))
