r"""Decontamination and near duplicates as a library: normalisation, n-gram and whole-text
matches, the benchmark readers, MinHash clusters. Every problem here is written for these tests.

The generator's use of them (dropped before any request, contamination.jsonl, report, signature)
is in test_screening.py.
"""

from __future__ import annotations

import json

import pytest

from sftkit.common.jsonl import InputError
from sftkit.inputs.benchmarks import benchmark_rows, file_digest, load_benchmarks
from sftkit.inputs.decontam import Tokenizer, build_index, find_contaminated
from sftkit.inputs.near_dup import find_clusters, keep_one, summary

BENCH = [
    # 0: a long benchmark problem
    "Let $f(x) = x^2 + 3x + 2$. Find the sum of all real numbers $x$ such that $f(x) = 12$.",
    # 1: a short one (4 words once normalised)
    r"Compute $\dbinom{31}{28}$.",
    # 2: prose with numbers
    "A jar holds 4 red marbles and 6 blue marbles. Two marbles are drawn without replacement. "
    "What is the probability that both are red? Express your answer as a common fraction.",
    # 3: a two-word one
    "Evaluate $7!$.",
    # 4: a multiple-choice problem in the CSAT shape
    r"함수 $g(x) = 2x^2 + x$ 에 대하여 $g'(1)$ 의 값은? \begin{itemize} \item[1] $1$ \item[2] $2$ "
    r"\item[3] $3$ \item[4] $4$ \item[5] $5$ \end{itemize}",
]


def index(n: int = 8):
    return build_index([("bench.jsonl", i + 1, text, None) for i, text in enumerate(BENCH)], n=n)


def hits(problems: list[str], n: int = 8) -> dict[int, tuple[int, str]]:
    """{input row: (benchmark row, shared words)} for each contaminated input problem."""
    rows = [("in", i, text, None) for i, text in enumerate(problems)]
    return {h.row: (h.benchmark_row, h.ngram) for h in find_contaminated(index(n), rows)}


@pytest.mark.parametrize(
    "text, words",
    [
        (r"$x^{2}+\dfrac{1}{2}$", ["x", "2", r"\frac", "1", "2"]),
        (r"x^2 + \frac12", ["x", "2", r"\frac", "1", "2"]),
        (r"\left( a \le b \right)", ["a", r"\leq", "b"]),
        ("Find  THE\nvalue,  of 12", ["find", "the", "value", "of", "12"]),
        # digits are kept: a changed number is a changed word
        ("of 13", ["of", "13"]),
    ],
)
def test_normalisation(text, words):
    assert Tokenizer().words(text) == words


# --- contaminated or not: each case beside its near miss ---------------------------------------


@pytest.mark.parametrize(
    "problem, bench_row",
    [
        # exact copy
        (BENCH[0], 1),
        # one number changed: the other 8-grams still match
        (BENCH[2].replace("6 blue", "7 blue"), 3),
        # reflowed whitespace and LaTeX spacing, \dfrac/\frac, braces
        (
            "Let  $f(x)=x^{2}+3x+2$ .\nFind the sum of all real\n numbers $x$ such that "
            r"$f(x)=12$.",
            1,
        ),
        # short benchmark problem: matched on its whole text, here inside a longer input
        (r"Compute $\binom{31}{28}$. Give your answer as an integer.", 2),
        (r"compute  \binom{31}{28}", 2),
        # a two-word benchmark problem matches only an input equal to it
        (r"Evaluate $7 !$", 4),
        # the multiple-choice problem with its choices relabelled (1) .. (5)
        (BENCH[4].replace(r"\item[", r"\item[(").replace("] $", ")] $"), 5),
        ("evaluate 7", 4),
    ],
)
def test_contaminated(problem, bench_row):
    found = hits([problem])
    assert list(found) == [0] and found[0][0] == bench_row


@pytest.mark.parametrize(
    "problem",
    [
        # common phrases only: "find the value of", "express your answer as a common fraction"
        "Find the value of $k$ for which the line $y = kx + 1$ touches $y = x^2$. Express your "
        "answer as a common fraction.",
        # the short benchmark problem's words, not in order
        r"Compute 28 and 31 with $\binom{n}{k}$.",
        # the two-word benchmark problem inside a longer problem is not enough
        r"Evaluate $7!$ modulo 11.",
        # the same choice block and ending: layout (\begin{itemize}, \item[k]) is not words
        r"$\log_3 27$ 의 값은? \begin{itemize} \item[1] $1$ \item[2] $2$ \item[3] $3$ "
        r"\item[4] $4$ \item[5] $5$ \end{itemize}",
        # a common formula start: operator signs are not words
        "Let $f(x) = x^2 + 5x - 7$ and $g(x) = 3$. Find all x with f(g(x)) = 0.",
    ],
)
def test_clean_problem_stays(problem):
    assert hits([problem]) == {}


def test_shared_ngram_is_reported_in_normalised_words():
    found = hits(["Take 6 blue marbles.  Two marbles are drawn without replacement; then stop."])
    assert found == {0: (3, "6 blue marbles two marbles are drawn without")}
    # seven words in a row are not enough for n = 8
    assert hits(["Marbles! Two marbles are drawn without replacement from a bag of 9."]) == {}


def test_ngram_size_changes_what_matches():
    text = "Two marbles are drawn without replacement"  # 6 words shared with benchmark row 3
    assert hits([text], n=8) == {}
    assert hits([text], n=6) == {0: (3, "two marbles are drawn without replacement")}


@pytest.mark.e2e
def test_many_inputs_in_chunks_keep_their_rows():
    problems = [f"A clean problem about apples number {i}." for i in range(50_001)]
    problems[3] = BENCH[0]
    problems[45_000] = BENCH[2]
    rows = [("in", i, t, None) for i, t in enumerate(problems)]
    found = [(h.row, h.benchmark_row) for h in find_contaminated(index(), rows, chunk=20_000)]
    assert found == [(3, 1), (45_000, 3)]


def test_index_is_hashed_and_small():
    idx = index()
    assert idx.tables[8][0].dtype.name == "uint64"
    assert idx.nbytes < 10_000  # a few dozen 8-byte n-grams and their owners


# --- benchmark files in the shapes the generator reads -----------------------------------------


def write_shapes(tmp_path):
    """The same two benchmark problems as JSONL, JSON, parquet, CSV and a save_to_disk folder,
    under the field names public benchmarks use (MATH-500 problem, GPQA Question, ...)."""
    import datasets
    import pyarrow as pa
    import pyarrow.csv as pcsv
    import pyarrow.parquet as pq

    probs = [BENCH[0], BENCH[2]]
    paths = {}
    paths["jsonl"] = tmp_path / "math500.jsonl"
    paths["jsonl"].write_text("".join(json.dumps({"problem": p}) + "\n" for p in probs))
    paths["json"] = tmp_path / "aime.json"
    paths["json"].write_text(json.dumps([{"ID": i, "Problem": p} for i, p in enumerate(probs)]))
    paths["parquet"] = tmp_path / "gpqa.parquet"
    pq.write_table(pa.table({"Question": probs, "Answer": ["a", "b"]}), paths["parquet"])
    paths["csv"] = tmp_path / "amc.csv"
    pcsv.write_csv(pa.table({"question": probs, "answer": ["1", "2"]}), paths["csv"])
    paths["disk"] = tmp_path / "saved"
    datasets.Dataset.from_dict({"problem": probs}).save_to_disk(str(paths["disk"]))
    return paths


@pytest.mark.e2e
def test_every_shape_reads_the_same_problems(tmp_path):
    for shape, path in write_shapes(tmp_path).items():
        assert list(benchmark_rows(path)) == [(1, BENCH[0]), (2, BENCH[2])], shape
    idx, files = load_benchmarks(list(write_shapes(tmp_path).values()), n=8)
    assert [f.rows for f in files] == [2] * 5
    assert all(f.digest.startswith("sha256:") for f in files)


def test_digest_follows_the_content_not_the_name(tmp_path):
    a, b = tmp_path / "a.jsonl", tmp_path / "b.jsonl"
    a.write_text('{"problem": "x"}\n')
    b.write_text('{"problem": "x"}\n')
    assert file_digest(a) == file_digest(b)
    b.write_text('{"problem": "y"}\n')
    assert file_digest(a) != file_digest(b)


@pytest.mark.parametrize(
    "name, content, message",
    [
        ("b.jsonl", '{"text": "x"}\n', "b.jsonl: missing a problem field (problem, question, prompt,"
         " input); map one with --fields problem=NAME (fields present: text)"),
        ("b.jsonl", '{"problem": "x"}\n{"problem": ""}\n', "b.jsonl:2: no problem text"),
        ("b.jsonl", '{"problem": "x"}\n{oops\n', "b.jsonl:2: invalid JSON"),
        ("b.parquet", "not parquet", "b.parquet:1: not a parquet file that opens"),
        ("b.txt", "x", "b.txt: not a problem file; use .jsonl, .json, .parquet, .csv"),
        ("b.jsonl", b'{"problem": "caf\xe9"}\n', "b.jsonl:1: not UTF-8 text (byte 0xe9"),
        ("b.jsonl", "", "b.jsonl: no benchmark problems in it"),
    ],
)  # fmt: skip
def test_bad_benchmark_file_is_one_clear_error(tmp_path, name, content, message):
    path = tmp_path / name
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    with pytest.raises(InputError) as err:
        load_benchmarks([path], n=8)
    assert message in str(err.value)


# --- near duplicates ---------------------------------------------------------------------------

TRAIN = "A train travels 120 kilometres in 2 hours at a constant speed. How many kilometres does it travel in 5 hours at the same speed?"  # noqa: E501
RECT = "A rectangle has a perimeter of 30 centimetres and a width of 5 centimetres. What is the area of the rectangle in square centimetres?"  # noqa: E501
OTHER = "How many positive divisors does 360 have? Count 1 and 360 themselves among them."


def rows(*items):
    return [("in", i + 1, text, gold) for i, (text, gold) in enumerate(items)]


@pytest.mark.e2e
def test_near_duplicate_clusters_equal_and_different_golds():
    data = rows(
        (TRAIN, "300"),
        (OTHER, "24"),
        (TRAIN.replace("the same speed", "that same speed"), "300"),  # reworded, same gold
        (RECT, "50"),
        (RECT.replace("width of 5", "width of 6"), "54"),  # one number changed: other gold
        (TRAIN.replace("  ", " ").upper(), "$300$"),  # case and spacing; gold written as LaTeX
    )
    clusters = find_clusters(data)
    assert [(c.members, c.golds_differ) for c in clusters] == [((0, 2, 5), False), ((3, 4), True)]
    assert all(0.8 <= c.min_jaccard <= 1 for c in clusters)
    dropped = keep_one(clusters)
    # keep_one keeps the first of each cluster; members with another gold are kept apart
    assert dropped == {2, 5}
    assert summary(clusters, dropped) == {
        "clusters": 2,
        "problems_in_clusters": 5,
        "same_gold_clusters": 1,
        "different_gold_clusters": 1,
        "dropped": 2,
    }


def test_below_threshold_is_not_a_cluster():
    half = " ".join(TRAIN.split()[:12]) + " What is its average speed in metres per second?"
    assert find_clusters(rows((TRAIN, "300"), (half, "16.7"))) == []
    # a stricter threshold leaves the reworded pair (Jaccard 0.84) apart too
    reworded = TRAIN.replace("the same speed", "that same speed")
    assert len(find_clusters(rows((TRAIN, "1"), (reworded, "1")), threshold=0.8)) == 1
    assert find_clusters(rows((TRAIN, "1"), (reworded, "1")), threshold=0.9) == []
