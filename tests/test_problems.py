r"""sftkit.inputs.problems: both versions of every sample problem, their golds and prompts.

The oracle for the choice block is written independently of the module: the last
`\begin{itemize}` ... `\end{itemize}` whose labels are exactly 1..k, found by a plain scan.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from sftkit.common.jsonl import InputError
from sftkit.inputs.problems import (
    MULTIPLE,
    SUBJECTIVE,
    build_prompt,
    build_versions,
    clean_text,
    load_problems,
    load_sentences,
)

ROOT = Path(__file__).resolve().parents[1]
MATH = ROOT / "data" / "sample_math.jsonl"
SENTENCES = ROOT / "data" / "sentences_ask_boxed.jsonl"
BEGIN, END = r"\begin{itemize}", r"\end{itemize}"


def raw_problems() -> list[dict]:
    return [json.loads(x) for x in MATH.read_text(encoding="utf-8").splitlines() if x.strip()]


def oracle_choice_span(text: str) -> tuple[int, int, list[str]] | None:
    """(start, end, options) of the last itemize block labelled 1..k, by a plain string scan."""
    found, pos = None, 0
    while (start := text.find(BEGIN, pos)) != -1:
        end = text.index(END, start) + len(END)
        inner = text[start + len(BEGIN) : end - len(END)]
        labels = re.findall(r"\\item\s*\[([^\]]*)\]", inner)
        if len(labels) >= 2 and labels == [str(i) for i in range(1, len(labels) + 1)]:
            options = [o.strip() for o in re.split(r"\\item\s*\[[^\]]*\]", inner)[1:]]
            found = (start, end, options)
        pos = end
    return found


def strip_exam_marks(text: str) -> str:
    text = re.sub(r"^\s*\d+\s*\.\s*", "", text, count=1)
    return re.sub(r"[ \t]*\[\d+점\]", "", text).strip()


RAW = raw_problems()
IDS = [r["id"] for r in RAW]


@pytest.fixture(scope="module")
def problems():
    return load_problems(MATH)


@pytest.fixture(scope="module")
def sentences():
    return load_sentences(SENTENCES)


# --- both versions and golds, every sample problem ---


@pytest.mark.parametrize("i", range(len(RAW)), ids=IDS)
def test_both_versions_and_golds(problems, i):
    raw, problem = RAW[i], problems[i]
    subj, mult = build_versions(problem)
    assert (subj.type, mult.type) == (SUBJECTIVE, MULTIPLE)
    assert problem.index == i and problem.id == raw["id"] and problem.source == "sample_math"
    span = oracle_choice_span(raw["problem"])
    if span is None:
        # Short answer: the same text and gold in both folders.
        assert subj.body == mult.body == strip_exam_marks(raw["problem"])
        assert subj.gold == mult.gold == raw["answer"]
        return
    start, end, options = span
    assert mult.gold == int(raw["answer"]) and 1 <= mult.gold <= len(options) <= 5
    assert subj.gold == options[int(raw["answer"]) - 1]
    assert mult.body == strip_exam_marks(raw["problem"])
    stem = raw["problem"][:start].rstrip() + "\n" + raw["problem"][end:].strip()
    assert subj.body == strip_exam_marks(stem.strip())
    assert r"\item[1]" not in subj.body and r"\item[1]" in mult.body


def test_known_golds(problems):
    by_id = {p.id: build_versions(p) for p in problems}
    subj, mult = by_id["sample-001"]
    assert (subj.gold, mult.gold) == ("$8$", 4)
    subj, mult = by_id["sample-012"]  # condition list (가)/(나) before the choices
    assert (subj.gold, mult.gold) == ("$6$", 4)


@pytest.mark.parametrize("i", range(len(RAW)), ids=IDS)
def test_other_text_untouched(problems, i):
    text = RAW[i]["problem"]
    subj, mult = build_versions(problems[i])
    span = oracle_choice_span(text)
    outside = text if span is None else text[: span[0]] + text[span[1] :]
    for mark in (r"\(", r"\)", r"\[", r"\]", "(x)", "①", r"\item[(가)]", r"\item[ㄱ.]", "ㄴ"):
        # Every such mark outside the choice block reaches both versions, as often as it occurs.
        assert subj.body.count(mark) == outside.count(mark), mark
        assert mult.body.count(mark) == text.count(mark), mark


@pytest.mark.parametrize("i", range(len(RAW)), ids=IDS)
def test_condition_and_bogi_blocks_whole(problems, i):
    text = RAW[i]["problem"]
    span = oracle_choice_span(text)
    blocks = re.findall(re.escape(BEGIN) + ".*?" + re.escape(END), text, re.S)
    kept = [b for b in blocks if span is None or b != text[span[0] : span[1]]]
    subj, mult = build_versions(problems[i])
    for block in kept:
        assert block in subj.body and block in mult.body


def test_sample_data_has_the_hard_cases(problems):
    texts = [p.text for p in problems]
    assert sum(r"\item[(가)]" in t for t in texts) >= 1
    assert sum(r"\item[ㄱ.]" in t for t in texts) >= 1
    assert sum(p.choices is None for p in problems) >= 5


@pytest.mark.parametrize("i", range(len(RAW)), ids=IDS)
def test_number_prefix_and_score_stripped(problems, i):
    for v in build_versions(problems[i]):
        assert not re.match(r"\s*\d+\s*\.", v.body)
        assert not re.search(r"\[\s*\d+\s*점\s*\]", v.body)
        assert v.body == v.body.strip()


# --- hand-written edge cases ---


CHOICES = r"\begin{itemize} \item[1] $1$ \item[2] $2$ \item[3] $3$ \end{itemize}"


@pytest.mark.parametrize(
    "text, subj_body",
    [
        # choice block last: only it goes
        (f"3. 값은? [3점] {CHOICES}", "값은?"),
        # text after the block stays, on its own line
        (f"값은? {CHOICES} 단, $x>0$ 이다.", "값은?\n단, $x>0$ 이다."),
        # 보기 block before the choices stays whole
        (
            r"옳은 것은? \begin{itemize} \item[ㄱ.] $a$ \item[ㄴ.] $b$ \end{itemize} " + CHOICES,
            r"옳은 것은? \begin{itemize} \item[ㄱ.] $a$ \item[ㄴ.] $b$ \end{itemize}",
        ),
        # parentheses, \( \) and circled numbers in the stem survive
        (rf"\(f(x)\) 에서 (x) 와 ① 은? {CHOICES}", r"\(f(x)\) 에서 (x) 와 ① 은?"),
    ],
)
def test_choice_block_removal(tmp_path, text, subj_body):
    path = tmp_path / "t_math.jsonl"
    path.write_text(json.dumps({"id": "a", "problem": text, "answer": 2}) + "\n", encoding="utf-8")
    subj, mult = build_versions(load_problems(path)[0])
    assert subj.body == subj_body
    assert subj.gold == "$2$" and mult.gold == 2
    assert CHOICES in mult.body


def test_list_not_numbered_1_to_k_is_not_a_choice_block(tmp_path):
    text = (
        r"다음 중 \begin{itemize} \item[1] $a$ \item[3] $b$ \end{itemize} 의 값을 구하시오. [4점]"
    )
    path = tmp_path / "t_math.jsonl"
    path.write_text(json.dumps({"id": "a", "problem": text, "answer": 7}) + "\n", encoding="utf-8")
    subj, mult = build_versions(load_problems(path)[0])
    assert subj.body == mult.body == clean_text(text)
    assert subj.gold == mult.gold == 7


# --- bad input names file and line ---


@pytest.mark.parametrize(
    "lines, message",
    [
        ([{"problem": "1+1?", "answer": 2}, "{not json"], ":2: invalid JSON"),
        ([{"problem": "1+1?"}], ":1: no gold: no answer field"),
        ([{"problem": "1+1?", "answer": 2}, {"problem": "2+2?"}], ":2: no gold: missing 'answer'"),
        ([{"answer": 2}], ":1: missing a problem field"),
        ([{"problem": f"값은? {CHOICES}", "answer": 6}], ":1: multiple-choice 'answer'"),
        ([{"problem": f"값은? {CHOICES}", "answer": 0}], ":1: multiple-choice 'answer'"),
        ([], ":1: no problems"),
    ],
)
def test_bad_input_names_file_and_line(tmp_path, lines, message):
    path = tmp_path / "bad_math.jsonl"
    text = "".join((x if isinstance(x, str) else json.dumps(x)) + "\n" for x in lines)
    path.write_text(text, encoding="utf-8")
    with pytest.raises(InputError) as err:
        load_problems(path)
    assert str(err.value).startswith(str(path)) and message in str(err.value)


# --- prompts ---


def test_prompts_contain_body_and_one_sentence(problems, sentences):
    for problem in problems:
        for v in build_versions(problem):
            for s in range(4):
                prompt = build_prompt(v, sentences, s)
                forms = {
                    f"{a}{sep}{b}"
                    for sent in sentences
                    for sep in ("\n", "\n\n")
                    for a, b in ((v.body, sent), (sent, v.body))
                }
                assert prompt in forms


def test_prompts_vary_with_sample_index(problems, sentences):
    v = build_versions(problems[0])[0]
    assert len({build_prompt(v, sentences, s) for s in range(16)}) > 1


PROMPT_DUMP = """
import json, sys
from sftkit.inputs.problems import build_prompt, build_versions, load_problems, load_sentences
sents = load_sentences(sys.argv[2])
out = [build_prompt(v, sents, s) for p in load_problems(sys.argv[1]) for v in build_versions(p)
       for s in range(6)]
sys.stdout.write(json.dumps(out, ensure_ascii=False))
"""


@pytest.mark.e2e
def test_prompts_byte_identical_across_processes(problems, sentences):
    runs = []
    for hash_seed in ("1", "2"):
        env = {**os.environ, "PYTHONHASHSEED": hash_seed, "PYTHONPATH": str(ROOT)}
        proc = subprocess.run(
            [sys.executable, "-c", PROMPT_DUMP, str(MATH), str(SENTENCES)],
            capture_output=True,
            env=env,
            check=True,
            cwd=ROOT,
        )
        runs.append(proc.stdout)
    assert runs[0] == runs[1]
    here = [
        build_prompt(v, sentences, s) for p in problems for v in build_versions(p) for s in range(6)
    ]
    assert json.loads(runs[0]) == here
