r"""The stand-in endpoint's fake model: what it answers, and which faults it injects. NOT a model.

It does not think: it recognises which problem of `<data_dir>` a prompt contains (every file
the generator would read there, in any supported shape: sftkit.inputs.collect.input_files), and composes a canned short step-by-step solution ending in `\boxed{...}`, correct with
probability `p_correct`, written in varied but equivalent forms (`\frac{1}{2}`, `1/2`, `0.5`, `③`,
`3번`, `15\text{개}` ...), sometimes wrong, sometimes with no box at all. Unknown prompts get a
polite reply without a box. By default half the replies carry reasoning, as a reasoning model
does; which replies do is decided per request seed and choice, like everything else. It decides
the faults too (429, 500, 503, drop, slow, length truncation, malformed 200 replies), at random or by a fixed script.
Everything is deterministic given `seed` (and the request's own `seed`, when it sends one).
No HTTP here: sftkit/demo/mock_server.py serves this model in the OpenAI wire format.

Usage:
    from sftkit.demo.mock_model import AnswerBook, MockConfig, compose
    cfg = MockConfig(data_dir="data", p_correct=1.0, p_no_box=0.0)
    entry = AnswerBook.load(cfg.data_dir).lookup(prompt)   # None for an unknown prompt
    compose(entry, cfg, random.Random(0)).content          # gold \frac{3}{4}: "... \boxed{3/4} ..."
"""

from __future__ import annotations

import dataclasses
import logging
import random
import re
import threading
from dataclasses import dataclass, fields
from fractions import Fraction
from pathlib import Path

from sftkit.common.jsonl import InputError
from sftkit.inputs.collect import input_files as input_files_of
from sftkit.inputs.fields import parse_fields
from sftkit.inputs.instructions import language_of
from sftkit.inputs.problems import MULTIPLE, Version, build_versions, read_problem_file, stable_hash
from sftkit.inputs.readers import read_rows

log = logging.getLogger("sftkit.demo.mock_model")

REASONING = ("none", "reasoning_content", "reasoning", "both")
# Malformed 200 replies, as a proxy or a crashing server sends them: a body cut off mid-JSON,
# `"choices": []`, or a choice whose content is null with no reasoning beside it.
MALFORMED = ("cut_json", "no_choices", "null_content")
FAULTS = ("429", "500", "503", "drop", "slow", "length", *MALFORMED)
QUIRKS = ("hedge", "loop", "mix", "stray_think", "late_box")
SCRIPT_STEPS = (*FAULTS, "ok")  # "ok" in a script means: serve this request normally
CIRCLED = "①②③④⑤⑥⑦⑧⑨"


@dataclass(frozen=True)
class MockConfig:
    data_dir: str = "data"
    input_files: tuple[str, ...] = ()  # the generator's --input_file (files, folders, globs)
    fields: str = ""  # the generator's --fields, so a file read with a mapping is recognised
    skip_bad_rows: bool = False  # the generator's --skip_bad_rows; else a bad row stops it
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
    p_cut_json: float = 0.0
    p_no_choices: float = 0.0
    p_null_content: float = 0.0
    retry_after: float = 1
    script: tuple[str, ...] = ()  # faults for the first requests, in order, e.g. ("429", "ok")
    api_key: str | None = None  # like vLLM's --api-key: 401 unless "Authorization: Bearer <key>"
    # Correct replies a filter should drop (hedged, loop, language mix, stray think tag, cut off
    # after the box), for demos of the filters; drawn apart, so the answers stay what they were.
    p_quirk: float = 0.0
    # Judge requests (a prompt with "Reference answer:" and "Candidate answer:"): YES with this
    # probability, drawn from (reference, candidate); judge_reply, when set, is sent verbatim.
    p_judge_yes: float = 0.5
    judge_reply: str | None = None

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
            raise ValueError(
                "the fault probabilities p_429 .. p_null_content add up to more than 1"
            )
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


def label_renderings(label: str, option: str) -> tuple[str, ...]:
    """Ways a model names a lettered option that the grader accepts:
    ("C", "29") -> ("C", "(C)", "(C) 29", "\\text{C}")."""
    if label.isdigit():
        return choice_renderings(int(label))
    return (label, f"({label})", f"({label}) {option}", f"\\text{{{label}}}")


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
    if version.type == MULTIPLE and problem.labels is not None:
        said = dict(zip(problem.labels, problem.choices, strict=True))
        wrong = tuple(label_renderings(x, t) for x, t in said.items() if x != version.gold)
        return Entry(version, label_renderings(version.gold, said[version.gold]), wrong, review)
    if version.type == MULTIPLE and problem.choices is not None:
        k = int(version.gold)
        others = [i for i in range(1, len(problem.choices) + 1) if i != k]

        def named(i: int) -> tuple[str, ...]:
            # By number, or by the option's value as models often do ("\frac{4}{3}" for ④);
            # not a value that reads as a choice number ("2" is choice 2 to every grader).
            value = strip_math(problem.choices[i - 1])
            by_value = () if re.fullmatch(r"\(?[0-9]\)?", value) else (value,)
            return (*choice_renderings(i), *by_value)

        return Entry(version, named(k), tuple(named(i) for i in others), review)
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


def _notes(path: Path, solution: str | None) -> dict[int, str]:
    """The short solution note of each row, for a solution step: CSAT's `review`, else a short
    worked solution (a long one would make every reply long)."""
    notes = {}
    for row, obj in read_rows(path):
        if isinstance(obj, dict):
            note = obj.get("review") or (obj.get(solution) if solution else None)
            if isinstance(note, str) and len(note) <= 400:
                notes[row] = note
    return notes


class AnswerBook:
    """Index of every version body by its first characters, so a lookup costs a few dict probes.

    A prompt is `body + sep + sentence` or `sentence + sep + body` (sftkit.inputs.problems.build_prompt),
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
    def load(
        cls,
        data_dir: str | Path,
        seed: int = 0,
        input_files: tuple = (),
        fields: str = "",
        skip_bad_rows: bool = False,
    ) -> AnswerBook:
        """Every version of every problem the generator would read with the same data_dir,
        input_files, fields and skip_bad_rows; bad input raises InputError as it does there."""
        entries: list[Entry] = []
        rng = random.Random(seed)
        if not input_files and not Path(data_dir).is_dir():
            raise InputError(f"{data_dir}: data_dir is not a directory")
        override = parse_fields(fields)
        try:
            paths, _ = input_files_of(data_dir, list(input_files))
        except InputError as exc:
            log.warning("%s: every prompt will be unknown", exc)
            paths = []
        for path in paths:
            read = read_problem_file(path, override, skip_bad_rows)
            notes = _notes(path, read.fields.solution if read.fields else None)
            for problem in read.problems:
                for version in build_versions(problem, "both"):
                    entries.append(_entry(version, notes.get(problem.lineno, ""), rng))
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
# A reply is in its problem's language, as a model answers (a mixed one is a filter's case).
_GENERIC_STEP = {
    "ko": ("조건을 식으로 나타내고 차례로 계산한다.", "주어진 관계를 이용해 값을 구한다."),
    "en": (
        "Substitute the given values and simplify.",
        "Use the given relation to find the value.",
    ),
}
_STEPS = {"ko": _STEPS_KO, "en": _STEPS_EN}
_UNKNOWN = (
    "I'm sorry, but I could not identify this problem. (This is a stand-in demo server, "
    "not a model: it only knows the sample problems.)"
)


def token_count(text: str | None) -> int:
    """Tokens as the stand-in counts them, words between whitespace: "x = 3\n" -> 3."""
    return len(text.split()) if text else 0


@dataclass
class Reply:
    content: str
    reasoning: str | None
    finish_reason: str
    outcome: str  # correct | wrong | no_box | unknown | judge
    quirk: str | None = None  # which of QUIRKS this reply carries


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
    lang = language_of(entry.version.problem.text)
    if correct or not entry.wrong:
        answer = rng.choice(entry.correct)
        step = entry.review or rng.choice(_GENERIC_STEP[lang])
    else:
        answer = rng.choice(rng.choice(entry.wrong))
        step = rng.choice(_GENERIC_STEP[lang])  # the review would give the right answer away
    final = f"\\boxed{{{answer}}}" if boxed else answer
    template = rng.choice(_STEPS[lang])
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
    """The text up to the end of its k-th word (words as token_count counts them)."""
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
    thought = token_count(reply.reasoning)
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


# --- replies a filter should drop, and judge replies ------------------------------------------

_LOOP = (
    "Wait, let me recompute the value of the expression from the beginning to make sure that "
    "every step is right. "
)
_MIX = "我们再仔细检查一下这个计算过程，确保每一步都正确无误，然后得出最终的结论。"


def add_quirk(reply: Reply, entry: Entry, quirk: str, rng: random.Random) -> Reply:
    r"""A correct reply made into one a filter drops; the last box stays the right answer.

    hedge: "It is either \boxed{5} or ..." before the reply; loop: a 20-word sentence 25 times in
    the reasoning (or the answer); mix: a Chinese sentence; stray_think: "<think>" after the box;
    late_box: cut off ("length") after the box.
    """
    content, reasoning, finish = reply.content, reply.reasoning, reply.finish_reason
    if quirk == "hedge" and entry.wrong:
        content = f"It is either \\boxed{{{rng.choice(rng.choice(entry.wrong))}}} or\n\n{content}"
    elif quirk == "loop":
        if reasoning:
            reasoning = reasoning + "\n" + _LOOP * 25
        else:
            content = _LOOP * 25 + "\n" + content
    elif quirk == "mix":
        content = content.replace("\n\n", f"\n{_MIX}\n\n", 1)
    elif quirk == "stray_think":
        content = content + "\n<think>"
    elif quirk == "late_box":
        content, finish = content + " To double-check, compute it once more: first", "length"
    else:
        return reply
    return Reply(content, reasoning, finish, reply.outcome, quirk)


_REFERENCE = re.compile(r"^Reference answer: (.*)$", re.M)
_CANDIDATE = re.compile(r"^Candidate answer: (.*)$", re.M)


def judge_question(prompt: str) -> tuple[str, str] | None:
    """(reference, candidate) of a judge request (sftkit/grading/judge.py's prompt), else None."""
    ref, cand = _REFERENCE.search(prompt), _CANDIDATE.search(prompt)
    return (ref.group(1).strip(), cand.group(1).strip()) if ref and cand else None


def judge_reply(cfg: MockConfig, reference: str, candidate: str) -> Reply:
    """YES with probability p_judge_yes, the same for the same pair on every request."""
    if cfg.judge_reply is not None:
        return Reply(cfg.judge_reply, None, "stop", "judge")
    rng = random.Random(stable_hash(cfg.seed, "judge", reference, candidate))
    return Reply("YES" if rng.random() < cfg.p_judge_yes else "NO", None, "stop", "judge")


# --- one request: which fault, which replies -----------------------------------------------------


class MockModel:
    r"""The fake model with its memory between requests: the fault script's position and how
    often each prompt was asked. Thread-safe: MockServer.update changes the config from the
    caller's thread while the server's event loop serves requests.

    model = MockModel(MockConfig(p_correct=1.0, p_no_box=0.0)); key = stable_hash(prompt)
    model.next_fault(model.cfg, key) -> ("ok", 0.0, 0)
    model.replies(model.cfg, prompt, key, "ok", 0, n=1)[0].content -> "... \boxed{3} ..."
    """

    def __init__(self, cfg: MockConfig):
        self.cfg = cfg
        self.book = AnswerBook.load(  # bad files fail here
            cfg.data_dir, cfg.seed, cfg.input_files, cfg.fields, cfg.skip_bad_rows
        )
        self.lock = threading.Lock()
        self.script_pos = 0
        self.counter = 0  # requests drawn for so far: keeps completion ids unique
        self.seen: dict[int, int] = {}  # prompt hash -> times asked, for per-prompt determinism

    def update(self, **changes) -> MockConfig:
        with self.lock:
            new = dataclasses.replace(self.cfg, **changes)
            if "script" in changes:
                self.script_pos = 0
            self.cfg = new
            return new

    def next_fault(self, cfg: MockConfig, key: int) -> tuple[str, float, int]:
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

    def replies(
        self,
        cfg: MockConfig,
        prompt: str,
        key: int,
        fault: str,
        occurrence: int,
        n: int,
        max_words: int | None = None,
        seed: int | None = None,
    ) -> list[Reply]:
        """The n choices for one request, cut at max_words (or at random for a "length" fault)."""
        question = judge_question(prompt)
        if question is not None:
            return [judge_reply(cfg, *question) for _ in range(n)]
        entry = self.book.lookup(prompt)
        replies = []
        for i in range(n):
            # With a request seed the reply depends only on (seed, prompt, choice): reproducible.
            which = ("req", seed) if seed is not None else ("nth", occurrence)
            rng = random.Random(stable_hash(cfg.seed, *which, cfg.model, key, i))
            # A draw of its own: the answers and faults stay what they were without reasoning.
            pick = random.Random(stable_hash(cfg.seed, *which, cfg.model, key, i, "reasoning"))
            r = compose(entry, cfg, rng, think=pick.random() < cfg.p_reasoning)
            if cfg.p_quirk and r.outcome == "correct" and entry is not None:
                odd = random.Random(stable_hash(cfg.seed, *which, cfg.model, key, i, "quirk"))
                u = odd.random()
                if u < cfg.p_quirk:
                    # The kind from the same draw (u / p_quirk is uniform below p_quirk): a second
                    # draw of this generator, taken only when the first was small, left out loops
                    # in a 20 % demo run (0 of 54 quirks).
                    r = add_quirk(r, entry, QUIRKS[int(u / cfg.p_quirk * len(QUIRKS))], odd)
            words = token_count(r.content) + token_count(r.reasoning)
            if fault == "length":
                r = truncate(r, rng)
            elif max_words and words > max_words:
                r = truncate(r, rng, max_words)
            replies.append(r)
        return replies
