r"""Problem files in each shape public math sets come in, with problems written here (never copied
from a public set): five problems per shape, each with the gold the file means.

Usage (a folder to try the generator or the launcher on by hand):
    python tests/shapes.py /tmp/mydata        # writes one file of each shape into /tmp/mydata

SHAPES maps a file name to (writer, golds by problem text): the tests read every file back and
check each problem's gold (free-response gold, and the multiple-choice label where there is one).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

# MATH / NuminaMath: problem, worked solution ending in \boxed{}, and a separate answer.
MATH_ROWS = [
    {
        "problem": "What is $\\frac{3}{4} + \\frac{1}{8}$? Express your answer as a common fraction.",
        "solution": "$\\frac34 = \\frac68$, so the sum is $\\boxed{\\frac{7}{8}}$.",
        "answer": "\\frac{7}{8}",
        "unique_id": "mine/algebra/1.json",
        "level": "Level 1",
    },
    {
        "problem": "How many positive divisors does $36$ have?",
        "solution": "$36 = 2^2 3^2$ has $(2+1)(2+1) = \\boxed{9}$ divisors.",
        "answer": "9",
        "unique_id": "mine/number_theory/2.json",
        "level": "Level 2",
    },
    {
        "problem": "Solve for $x$: $5x - 7 = 18$.",
        "solution": "$5x = 25$, so $x = \\boxed{5}$.",
        "answer": "5",
        "unique_id": "mine/algebra/3.json",
        "level": "Level 1",
    },
    {
        "problem": "A rectangle has perimeter $26$ and width $4$. What is its area?",
        "solution": "The length is $13 - 4 = 9$, so the area is $\\boxed{36}$.",
        "answer": "36",
        "unique_id": "mine/geometry/4.json",
        "level": "Level 2",
    },
    {
        "problem": "Compute $\\sqrt{12}\\cdot\\sqrt{3}$.",
        "solution": "$\\sqrt{36} = \\boxed{6}$.",
        "answer": "6",
        "unique_id": "mine/algebra/5.json",
        "level": "Level 1",
    },
]

# MATH where the gold is only the last \boxed{} of the solution (no answer field).
BOXED_ROWS = [
    {
        "problem": "Find the remainder when $2^{10}$ is divided by $7$.",
        "solution": "$2^3 \\equiv 1$, so $2^{10} = 2 \\cdot (2^3)^3 \\equiv \\boxed{2}$.",
        "type": "Number Theory",
    },
    {
        "problem": "What is the slope of the line through $(1, 2)$ and $(3, 8)$?",
        "solution": "The slope is $\\frac{8-2}{3-1} = \\boxed{3}$.",
        "type": "Algebra",
    },
    {
        "problem": "Evaluate $\\binom{6}{2}$.",
        "solution": "$\\frac{6 \\cdot 5}{2} = 15$; the first guess $\\boxed{12}$ was wrong: "
        "the answer is $\\boxed{15}$.",
        "type": "Counting & Probability",
    },
    {
        "problem": "Simplify $\\frac{x^2-9}{x-3}$ for $x \\ne 3$.",
        "solution": "It factors as $\\frac{(x-3)(x+3)}{x-3} = \\boxed{x+3}$.",
        "type": "Algebra",
    },
    {
        "problem": "What is $15\\%$ of $240$?",
        "solution": "$0.15 \\cdot 240 = \\boxed{36}$.",
        "type": "Prealgebra",
    },
]

# GSM8K: question, and an answer whose rationale ends in "#### N".
GSM_ROWS = [
    {
        "question": "Mina buys 3 boxes of 12 pencils and gives away 5 pencils. "
        "How many pencils does she have left?",
        "answer": "3 boxes hold 3*12=<<3*12=36>>36 pencils.\n36-5=<<36-5=31>>31\n#### 31",
    },
    {
        "question": "A train travels 60 km each hour for 4 hours. How far does it go?",
        "answer": "60*4=<<60*4=240>>240 km\n#### 240",
    },
    {
        "question": "Jun has $50 and spends $18 on lunch and $7 on a book. How much is left?",
        "answer": "18+7=<<18+7=25>>25\n50-25=<<50-25=25>>25\n#### 25",
    },
    {
        "question": "A class of 28 students splits into teams of 4. How many teams are there?",
        "answer": "28/4=<<28/4=7>>7\n#### 7",
    },
    {
        "question": "Eggs cost $3 a dozen. How much do 5 dozen eggs cost?",
        "answer": "5*3=<<5*3=15>>15\n#### 15",
    },
]

# MMLU-style: a list of options and a 0-based index answer.
MMLU_ROWS = [
    {"question": "What is $7 \\times 8$?", "choices": ["54", "56", "58", "64"], "answer": 1},
    {"question": "Which number is prime?", "choices": ["21", "27", "29", "33"], "answer": 2},
    {"question": "What is $2^5$?", "choices": ["32", "25", "10", "64"], "answer": 0},
    {
        "question": "What is the derivative of $x^3$?",
        "choices": ["$x^2$", "$3x$", "$3x^3$", "$3x^2$"],
        "answer": 3,
    },
    {
        "question": "How many edges does a cube have?",
        "choices": ["6", "8", "12", "24"],
        "answer": 2,
    },
]

# CSV with one column per option (A..D) and a letter answer.
CSV_HEADER = ["question", "A", "B", "C", "D", "answer"]
CSV_ROWS = [
    ["What is $0.25$ as a fraction?", "$\\frac{1}{5}$", "$\\frac{1}{4}$", "$\\frac{2}{5}$", "$\\frac{1}{3}$", "B"],
    ["What is $9^2 - 1$?", "79", "80", "81", "82", "B"],
    ["What is the sum of the angles of a triangle, in degrees?", "90", "180", "270", "360", "B"],
    ["What is $\\gcd(12, 18)$?", "2", "3", "6", "9", "C"],
    ["Which is the largest?", "0.7", "0.65", "0.701", "0.07", "C"],
]  # fmt: skip

# A dict of options with the dataset's own labels, and the answer given as "(D)".
DICT_ROWS = [
    {
        "id": "d1",
        "input": "What is $11 + 13$?",
        "options": {"A": "22", "B": "23", "C": "24", "D": "25"},
        "target": "(C)",
    },
    {
        "id": "d2",
        "input": "What is $100 \\div 4$?",
        "options": {"A": "20", "B": "25", "C": "40", "D": "400"},
        "target": "(B)",
    },
    {
        "id": "d3",
        "input": "Which is a multiple of $9$?",
        "options": {"A": "52", "B": "64", "C": "72", "D": "82"},
        "target": "(C)",
    },
    {
        "id": "d4",
        "input": "What is $3!$?",
        "options": {"A": "3", "B": "6", "C": "9", "D": "27"},
        "target": "(B)",
    },
    {
        "id": "d5",
        "input": "What is $1.5 + 2.25$?",
        "options": {"A": "3.25", "B": "3.5", "C": "3.65", "D": "3.75"},
        "target": "(D)",
    },
]

# Parquet in the GSM8K shape, field names that need --fields: "query" and "label".
PARQUET_ROWS = [
    {
        "uid": "p1",
        "query": "A bag holds 4 red and 9 blue marbles. How many marbles?",
        "label": "13",
    },
    {"uid": "p2", "query": "What is 45 minus 17?", "label": "28"},
    {"uid": "p3", "query": "Six friends share 42 cookies equally. How many each?", "label": "7"},
    {"uid": "p4", "query": "A square has side 9. What is its perimeter?", "label": "36"},
    {"uid": "p5", "query": "What is half of 3 more than 11?", "label": "7"},
]

# CSAT (Korean): \item[1]..\item[5] choices and a choice number; a 보기 block stays as it is.
CSAT_ROWS = [
    {
        "id": "k1",
        "problem": "1. $3^2 + 4^2$ 의 값은? [2점] \\begin{itemize} \\item[1] $7$ \\item[2] $12$ "
        "\\item[3] $25$ \\item[4] $49$ \\item[5] $50$ \\end{itemize}",
        "answer": 3,
    },
    {
        "id": "k2",
        "problem": "2. 다음 <보기>에서 옳은 것만을 있는 대로 고른 것은? [3점] \\begin{itemize} "
        "\\item[ㄱ.] $2 < 3$ \\item[ㄴ.] $5 < 4$ \\item[ㄷ.] $1 < 2$ \\end{itemize} "
        "\\begin{itemize} \\item[1] ㄱ \\item[2] ㄴ \\item[3] ㄱ, ㄴ \\item[4] ㄱ, ㄷ "
        "\\item[5] ㄴ, ㄷ \\end{itemize}",
        "answer": 4,
    },
    {"id": "k3", "problem": "3. 방정식 $2x + 6 = 20$ 의 해를 구하시오. [3점]", "answer": 7},
    {
        "id": "k4",
        "problem": "4. $\\log_3 81$ 의 값은? [2점] \\begin{itemize} \\item[1] $2$ \\item[2] $3$ "
        "\\item[3] $4$ \\item[4] $5$ \\item[5] $6$ \\end{itemize}",
        "answer": 3,
    },
    {"id": "k5", "problem": "5. 자연수 $12$ 의 양의 약수의 개수를 구하시오. [3점]", "answer": 6},
]


def _jsonl(path: Path, rows: list[dict]) -> None:
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), "utf-8")


def write_math(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    _jsonl(folder / "math_test.jsonl", MATH_ROWS)
    return folder / "math_test.jsonl"


def write_boxed(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "math_boxed.json"  # a JSON list, as `json.dump(rows)` writes it
    path.write_text(json.dumps(BOXED_ROWS, indent=1), "utf-8")
    return path


def write_gsm(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    _jsonl(folder / "gsm_test.jsonl", GSM_ROWS)
    return folder / "gsm_test.jsonl"


def write_mmlu(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    import pyarrow as pa
    import pyarrow.parquet as pq

    pq.write_table(pa.Table.from_pylist(MMLU_ROWS), folder / "mmlu_math.parquet")
    return folder / "mmlu_math.parquet"


def write_csv(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    import csv

    path = folder / "mc_columns.csv"
    with path.open("w", newline="", encoding="utf-8") as fh:
        csv.writer(fh).writerows([CSV_HEADER, *CSV_ROWS])
    return path


def write_dict(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    _jsonl(folder / "mc_dict.jsonl", DICT_ROWS)
    return folder / "mc_dict.jsonl"


def write_saved(folder: Path) -> Path:
    """A `datasets` save_to_disk folder in the NuminaMath shape (problem, solution)."""
    folder.mkdir(parents=True, exist_ok=True)
    import datasets

    path = folder / "numina_saved"
    rows = [{"problem": r["problem"], "solution": r["solution"]} for r in BOXED_ROWS]
    datasets.Dataset.from_list(rows).save_to_disk(str(path))
    return path


def write_parquet_fields(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    import pyarrow as pa
    import pyarrow.parquet as pq

    pq.write_table(pa.Table.from_pylist(PARQUET_ROWS), folder / "mine.parquet")
    return folder / "mine.parquet"


def write_csat(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    _jsonl(folder / "csat_math.jsonl", CSAT_ROWS)
    return folder / "csat_math.jsonl"


# name -> writer; every shape that needs no --fields (write_parquet_fields needs one).
WRITERS = {
    "math": write_math,
    "boxed": write_boxed,
    "gsm": write_gsm,
    "mmlu": write_mmlu,
    "csv": write_csv,
    "dict": write_dict,
    "csat": write_csat,
}

# The gold each problem of every shape means: free-response gold, and the label for MC.
GOLDS = {
    "math": {r["problem"]: (r["answer"], None) for r in MATH_ROWS},
    "boxed": dict(
        zip(
            [r["problem"] for r in BOXED_ROWS],
            [("2", None), ("3", None), ("15", None), ("x+3", None), ("36", None)],
            strict=True,
        )
    ),
    "gsm": {r["question"]: (r["answer"].rsplit("#### ", 1)[1], None) for r in GSM_ROWS},
    "mmlu": {r["question"]: (r["choices"][r["answer"]], "ABCD"[r["answer"]]) for r in MMLU_ROWS},
    "csv": {r[0]: (r[1 + "ABCD".index(r[5])], r[5]) for r in CSV_ROWS},
    "dict": {r["input"]: (r["options"][r["target"][1]], r["target"][1]) for r in DICT_ROWS},
    "csat": {
        r["problem"]: ("$25$", 3)
        if r["id"] == "k1"
        else ("ㄱ, ㄷ", 4)
        if r["id"] == "k2"
        else ("$4$", 3)
        if r["id"] == "k4"
        else (r["answer"], None)
        for r in CSAT_ROWS
    },  # fmt: skip
}


def write_all(folder: Path) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    return [write(folder) for write in WRITERS.values()]


if __name__ == "__main__":
    for written in write_all(Path(sys.argv[1])):
        print(written)
