r"""Any problem set in, unedited: every file shape (tests/shapes.py, problems written here), the
field mapping, golds (answer field, `#### N`, last \boxed{}), public multiple choice, --versions,
instructions in the problem's language, bad input (one line, exit 2), --skip_bad_rows, identical
problems merged, and the stand-in answering all of it.
"""

from __future__ import annotations

import json
import logging
import re
import subprocess
import sys
from pathlib import Path

import pytest
import shapes
from test_generate import ROOT, gen_env, run

from sftkit.common.jsonl import InputError
from sftkit.grading.grade import validate_item
from sftkit.inputs.choices import answer_label, options_of
from sftkit.inputs.collect import collect, input_files, log_inputs
from sftkit.inputs.fields import detect_fields, gold_of, parse_fields
from sftkit.inputs.instructions import load_sentences
from sftkit.inputs.problems import (
    MULTIPLE,
    SUBJECTIVE,
    build_prompt,
    build_versions,
    read_problem_file,
    read_problems,
)

HANGUL = re.compile(r"[\uac00-\ud7a3]")
BUNDLED = load_sentences(ROOT / "data" / "sentences_ask_boxed.jsonl")


def golds_of(path: Path, fields: dict | None = None) -> dict[str, tuple]:
    """{problem text: (free-response gold, multiple-choice gold or None)} as the run asks them."""
    out = {}
    for problem in read_problem_file(path, fields).problems:
        versions = {v.type: v.gold for v in build_versions(problem, "auto")}
        out[problem.text] = (versions[SUBJECTIVE], versions.get(MULTIPLE))
    return out


# --- each shape reads with the gold the file means ---


@pytest.mark.parametrize("shape", list(shapes.WRITERS))
def test_each_shape_gives_the_golds_the_file_means(tmp_path, shape):
    path = shapes.WRITERS[shape](tmp_path)
    assert golds_of(path) == shapes.GOLDS[shape]


def test_save_to_disk_folder_reads_like_its_rows(tmp_path, load_dataset):
    path = shapes.write_saved(tmp_path)
    assert golds_of(path) == shapes.GOLDS["boxed"]
    paths, skipped = input_files(tmp_path, [])
    assert paths == [path] and skipped == []


def test_json_wrapped_in_data_and_csv_with_bom(tmp_path):
    wrapped = tmp_path / "wrapped.json"
    wrapped.write_text(json.dumps({"data": shapes.GSM_ROWS}), encoding="utf-8")
    assert golds_of(wrapped) == shapes.GOLDS["gsm"]
    bom = tmp_path / "bom.csv"
    bom.write_text("\ufeffquestion,answer\nWhat is 2+2?,004\n", encoding="utf-8")
    (problem,) = read_problem_file(bom).problems
    assert (problem.text, problem.answer) == ("What is 2+2?", "004")  # text stays text


@pytest.mark.e2e  # two Python processes: the hash seed must not reach a prompt
def test_prompts_are_byte_identical_across_processes(tmp_path):
    shapes.write_all(tmp_path)
    code = (
        "import sys; from sftkit.inputs.collect import collect, input_files;"
        "from sftkit.inputs.problems import build_prompt, build_versions, load_sentences;"
        "s = load_sentences(sys.argv[2]); ps = collect(input_files(sys.argv[1], [])[0]).problems;"
        "sys.stdout.buffer.write('\\x00'.join(build_prompt(v, s, k) for p in ps"
        " for v in build_versions(p, 'auto') for k in range(3)).encode())"
    )
    cmd = [
        sys.executable,
        "-c",
        code,
        str(tmp_path),
        str(ROOT / "data" / "sentences_ask_boxed.jsonl"),
    ]
    runs = [
        subprocess.run(cmd, capture_output=True, env=gen_env(), check=True).stdout for _ in "ab"
    ]
    assert runs[0] == runs[1] and runs[0].count(b"\x00") == 53 * 3 - 1


def test_fields_override_maps_a_parquet_file(tmp_path):
    path = shapes.write_parquet_fields(tmp_path)
    with pytest.raises(InputError, match=r"mine.parquet:1: missing a problem field .*--fields"):
        read_problem_file(path)
    read = read_problem_file(path, parse_fields("problem=query,answer=label,id=uid"))
    assert [(p.id, p.answer) for p in read.problems] == [
        (r["uid"], r["label"]) for r in shapes.PARQUET_ROWS
    ]
    assert read.fields.describe() == "problem=query, answer=label, id=uid, solution=-"


def test_read_problems_is_the_plain_reader_for_other_stages(tmp_path):
    """read_problems(path, fields) -> problems with text and gold: what decontamination reads."""
    rows = read_problems(shapes.write_gsm(tmp_path))
    assert [(r.text, r.answer) for r in rows] == [
        (r["question"], r["answer"].rsplit("#### ", 1)[1]) for r in shapes.GSM_ROWS
    ]
    assert rows[0].row_key == "gsm_test.jsonl:1"
    mapped = read_problems(shapes.write_parquet_fields(tmp_path), "problem=query,answer=label")
    assert [r.answer for r in mapped] == [r["label"] for r in shapes.PARQUET_ROWS]


@pytest.mark.parametrize(
    "row, gold, how",
    [
        ({"problem": "x", "answer": "7"}, "7", "answer field"),
        ({"problem": "x", "answer": 7}, 7, "answer field"),
        ({"problem": "x", "answer": 2.0}, "2", "answer field"),
        ({"problem": "x", "answer": "a\n#### 1,250"}, "1,250", "'#### N'"),
        ({"problem": "x", "answer": "a #### -3"}, "-3", "'#### N'"),
        ({"problem": "x", "answer": "so \\boxed{12}."}, "12", "answer field"),
        ({"problem": "x", "solution": "\\boxed{1} no, \\boxed{\\frac{2}{3}}"}, "\\frac{2}{3}", "boxed"),
        ({"problem": "x", "solution": "\\boxed{1} then \\boxed{2"}, "1", "boxed"),
        ({"problem": "x", "answer": "", "solution": "\\boxed{5}"}, "5", "boxed"),
        ({"problem": "x", "solution": "no box here"}, None, "no gold: missing 'answer'"),
        ({"problem": "x", "answer": True}, None, "must be a number or text"),
    ],
)  # fmt: skip
def test_gold_from_answer_hashes_or_last_box(row, gold, how):
    fmap = detect_fields(["problem", "answer", "solution"], {}, "f.jsonl:1")
    got, source = gold_of(row, fmap)
    assert got == gold and how in source


@pytest.mark.parametrize(
    "columns, spec, expected",
    [
        (["question", "answer"], "", ("question", "answer", None, None)),
        (["prompt", "final_answer", "unique_id"], "", ("prompt", "final_answer", "unique_id", None)),
        (["input", "target", "uuid", "solution"], "", ("input", "target", "uuid", "solution")),
        (["problem", "question", "expected_answer"], "", ("problem", "expected_answer", None, None)),
        (["q", "gold", "problem_id"], "problem=q", ("q", "gold", "problem_id", None)),
        (["q", "a", "uid"], "problem=q,answer=a,id=uid", ("q", "a", "uid", None)),
        (["q", "a"], "problem=q,gold=a", ("q", "a", None, None)),
        (["ID", "Problem", "Answer"], "", ("Problem", "Answer", "ID", None)),
        (["Question", "question", "answer"], "", ("question", "answer", None, None)),
        (["Question", "Final Answer", "Problem ID"], "", ("Question", "Final Answer", "Problem ID", None)),
        (["Question", "Finalanswer"], "", ("Question", None, None, None)),
    ],
)  # fmt: skip
def test_field_detection_and_override(columns, spec, expected):
    fmap = detect_fields(columns, parse_fields(spec), "f.jsonl:1")
    assert (fmap.problem, fmap.answer, fmap.id, fmap.solution) == expected


@pytest.mark.parametrize(
    "spec, message",
    [
        ("problem", "--fields: 'problem' is not role=field"),
        ("level=x", "--fields: unknown role 'level'"),
        ("problem=a,problem=b", "--fields: problem given twice"),
    ],
)
def test_bad_fields_flag(spec, message):
    with pytest.raises(InputError, match=re.escape(message)):
        parse_fields(spec)


# --- multiple choice in public shapes ---


@pytest.mark.parametrize(
    "row, labels, texts",
    [
        ({"choices": ["3", "4"]}, ("A", "B"), ("3", "4")),
        ({"options": ["A)21", "B)24", "C) 27"]}, ("A", "B", "C"), ("21", "24", "27")),
        ({"options": {"A": "3", "B": "4"}}, ("A", "B"), ("3", "4")),
        ({"choices": {"label": ["1", "2"], "text": ["x", "y"]}}, ("1", "2"), ("x", "y")),
        ({"A": "3", "B": "4", "C": "5"}, ("A", "B", "C"), ("3", "4", "5")),
        ({"choices": ["5", 6.5]}, ("A", "B"), ("5", "6.5")),
    ],
)
def test_options_in_public_shapes(row, labels, texts):
    columns = ["question", *row]
    fmap = detect_fields(columns, {}, "f:1")
    assert options_of({"question": "q", **row}, fmap) == (labels, texts)


@pytest.mark.parametrize(
    "row, wrong",
    [
        ({"choices": ["only"]}, "1 option"),
        ({"choices": ["3", ""]}, "option B is empty"),
        ({"choices": "3, 4"}, "must be a list or a dict"),
        ({"choices": {"label": ["1"], "text": ["x", "y"]}}, "1 labels for 2 texts"),
    ],
)
def test_bad_options_say_what_is_wrong(row, wrong):
    fmap = detect_fields(["question", "choices"], {}, "f:1")
    assert wrong in options_of({"question": "q", **row}, fmap)


@pytest.mark.parametrize(
    "raw, expected",
    [
        ("B", "B"), ("(b)", "B"), ("b.", "B"), (" C ", "C"), (1, "B"), (1.0, "B"), ("2", "C"),
        ("$4$", "B"),  # the text of exactly one option
        ("E", None), (7, None), (None, None), (True, None), ("$5$", None),
    ],
)  # fmt: skip
def test_answer_names_a_label_an_index_or_an_option(raw, expected):
    assert answer_label(raw, ("A", "B", "C", "D"), ("$3$", "$4$", "$6$", "$8$")) == expected


def test_mc_versions_show_the_datasets_labels_and_free_drops_them(tmp_path):
    problem = read_problem_file(shapes.write_dict(tmp_path)).problems[0]
    free, mc = build_versions(problem, "auto")
    assert free.body == "What is $11 + 13$?" and free.gold == "24"
    assert mc.body == "What is $11 + 13$?\n\n(A) 22\n(B) 23\n(C) 24\n(D) 25" and mc.gold == "C"


def test_csat_item_blocks_stay_as_they_are(tmp_path):
    k1, k2 = read_problem_file(shapes.write_csat(tmp_path)).problems[:2]
    free, mc = build_versions(k2, "auto")
    bogi = "\\begin{itemize} \\item[ㄱ.] $2 < 3$ \\item[ㄴ.] $5 < 4$ \\item[ㄷ.] $1 < 2$ \\end{itemize}"
    assert bogi in free.body and bogi in mc.body
    assert "\\item[1]" in mc.body and "\\item[1]" not in free.body
    assert mc.body.endswith("\\item[5] ㄴ, ㄷ \\end{itemize}") and mc.gold == 4
    assert (k1.labels, build_versions(k1)[1].gold) == (None, 3)


# --- --versions ---


@pytest.mark.parametrize(
    "mode, with_choices, without",
    [
        ("auto", [SUBJECTIVE, MULTIPLE], [SUBJECTIVE]),
        ("both", [SUBJECTIVE, MULTIPLE], [SUBJECTIVE, MULTIPLE]),
        ("free", [SUBJECTIVE], [SUBJECTIVE]),
        ("choice", [MULTIPLE], []),
    ],
)
def test_versions_modes(tmp_path, mode, with_choices, without):
    mc = read_problem_file(shapes.write_mmlu(tmp_path)).problems[0]
    plain = read_problem_file(shapes.write_gsm(tmp_path)).problems[0]
    assert [v.type for v in build_versions(mc, mode)] == with_choices
    assert [v.type for v in build_versions(plain, mode)] == without


# --- instructions in the problem's language ---


def test_prompts_are_in_the_problems_language(tmp_path):
    shapes.write_all(tmp_path)
    paths, _ = input_files(tmp_path, [])
    prompts = {}
    for problem in collect(paths).problems:
        for v in build_versions(problem, "both"):
            for s in range(8):
                prompts[(problem.source, v.type, problem.index, s)] = build_prompt(v, BUNDLED, s)
    ko_free = {x.text for x in BUNDLED.items if (x.lang, x.kind) == ("ko", "free")}
    ko_mc = {x.text for x in BUNDLED.items if (x.lang, x.kind) == ("ko", "choice")}
    en_mc = {x.text for x in BUNDLED.items if (x.lang, x.kind) == ("en", "choice")}
    for (source, type_, _, _), prompt in prompts.items():
        if source == "csat_math":
            wanted = ko_mc if type_ == MULTIPLE and "\\item[1]" in prompt else ko_free
            assert any(sent in prompt for sent in wanted), prompt
        else:
            assert not HANGUL.search(prompt), prompt
            if type_ == MULTIPLE and source.startswith(("mc_", "mmlu")):
                assert any(sent in prompt for sent in en_mc), prompt  # asks for the label


def test_an_untagged_sentences_file_still_serves_every_prompt(tmp_path):
    own = tmp_path / "sentences_ask_boxed.jsonl"
    own.write_text('{"sent": "Box it: \\\\boxed{}."}\n', encoding="utf-8")
    problem = read_problem_file(shapes.write_mmlu(tmp_path)).problems[0]
    for v in build_versions(problem):
        assert build_prompt(v, load_sentences(own), 0).count("Box it: \\boxed{}.") == 1
    assert load_sentences(own).texts() == ["Box it: \\boxed{}."]  # signs as before


# --- files taken and skipped, identical problems merged ---


def test_data_dir_takes_every_problem_file_and_logs_the_rest(tmp_path, caplog):
    written = shapes.write_all(tmp_path)
    (tmp_path / "notes.txt").write_text("hi", encoding="utf-8")
    (tmp_path / "sentences_ask_boxed.jsonl").write_text('{"sent": "\\\\boxed{}"}\n', "utf-8")
    (tmp_path / "stuff").mkdir()
    paths, skipped = input_files(tmp_path, [])
    assert sorted(paths) == sorted(written)
    assert {p.name: why for p, why in skipped} == {
        "notes.txt": "not a problem file (.txt)",
        "sentences_ask_boxed.jsonl": "instruction sentences, not problems",
        "stuff": "a folder not written by datasets' save_to_disk",
    }
    with caplog.at_level(logging.INFO):
        log_inputs(collect(paths), skipped, logging.getLogger("t"))
    text = caplog.text
    assert "gsm_test.jsonl: 5 problems; fields problem=question, answer=answer" in text
    assert "5 from the '#### N' ending of the answer field" in text
    assert "5 from the last \\boxed{} of the solution field" in text
    assert "notes.txt skipped: not a problem file (.txt)" in text


def test_input_file_repeatable_and_glob(tmp_path):
    shapes.write_all(tmp_path)
    paths, _ = input_files("unused", [str(tmp_path / "*.jsonl"), str(tmp_path / "mc_columns.csv")])
    assert [p.name for p in paths] == [
        "csat_math.jsonl", "gsm_test.jsonl", "math_test.jsonl", "mc_dict.jsonl", "mc_columns.csv"
    ]  # fmt: skip
    with pytest.raises(InputError, match=r"nothing\*.parquet: no file matches"):
        input_files("unused", [str(tmp_path / "nothing*.parquet")])


def test_identical_problems_are_asked_once(tmp_path):
    shapes.write_gsm(tmp_path)
    rows = [
        *shapes.GSM_ROWS[:2],
        {**shapes.GSM_ROWS[0], "question": "  " + shapes.GSM_ROWS[0]["question"]},
    ]
    again = tmp_path / "gsm_again.jsonl"
    again.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    # Same text, other gold: a different problem, kept.
    other = {**shapes.GSM_ROWS[1], "answer": "#### 241"}
    with again.open("a", encoding="utf-8") as fh:
        fh.write(json.dumps(other) + "\n")
    inputs = collect([tmp_path / "gsm_again.jsonl", tmp_path / "gsm_test.jsonl"])
    assert len(inputs.problems) == 6 and len(inputs.merged) == 3
    assert [(d.row_key, k.row_key) for d, k in inputs.merged] == [
        ("gsm_again.jsonl:3", "gsm_again.jsonl:1"),
        ("gsm_test.jsonl:1", "gsm_again.jsonl:1"),
        ("gsm_test.jsonl:2", "gsm_again.jsonl:2"),
    ]


# --- bad input: one line naming file and row, exit 2, never a traceback ---


def _broken(tmp_path: Path, kind: str) -> tuple[Path, list[str]]:
    """A bad file and the extra flags; the message must name the file (and row)."""
    if kind == "cp949":
        path = tmp_path / "ko_math.jsonl"
        row = {"problem": "함수 $f(x)=2x$ 에 대하여 $f(3)$ 의 값을 구하시오.", "answer": 6}
        path.write_bytes(json.dumps(row, ensure_ascii=False).encode("cp949") + b"\n")
    elif kind == "parquet":
        path = tmp_path / "broken.parquet"
        path.write_bytes(b"PAR1 this is not a parquet file")
    elif kind == "no_gold":
        path = tmp_path / "ok.jsonl"
        path.write_text('{"problem": "1+1?", "answer": 2}\n{"problem": "2+3?"}\n', "utf-8")
    elif kind == "no_problem":
        path = tmp_path / "ok.csv"
        path.write_text("question,answer\n1+1?,2\n,5\n", "utf-8")
    elif kind == "fields":
        path = shapes.write_gsm(tmp_path)
        return path, ["--fields", "problem=query"]
    elif kind == "bad_label":
        path = tmp_path / "mc.jsonl"
        path.write_text('{"question": "q", "choices": ["1", "2"], "answer": "C"}\n', "utf-8")
    return path, []


BAD = {
    "cp949": ":1: not UTF-8 text (byte 0x",
    "parquet": ":1: not a parquet file that opens",
    "no_gold": ":2: no gold: missing 'answer' (fields present: problem)",
    "no_problem": ":2: no problem text in 'question' (fields present: question, answer)",
    "fields": ":1: --fields problem=query: no field 'query' in the file (fields present: question, answer)",
    "bad_label": ":1: 'answer' names no option of A, B: 'C'",
}  # fmt: skip


@pytest.mark.parametrize("kind", list(BAD))
def test_bad_input_one_line_exit_2_before_any_request(tmp_path, capsys, mock_server, kind):
    srv = mock_server()
    data = tmp_path / "data"
    data.mkdir()
    path, flags = _broken(data, kind)
    out = tmp_path / "out"
    rc, _, err = run(capsys, ["--base_url", srv.base_url, "--data_dir", str(data),
                              "--output_dir", str(out), "--no_progress", *flags])  # fmt: skip
    assert rc == 2, err
    assert err.strip().splitlines() == [err.strip()] and f"{path}{BAD[kind]}" in err
    assert srv.stats["requests"] == 0 and not out.exists()


@pytest.mark.e2e
def test_cp949_file_from_the_command_line_has_no_traceback(tmp_path):
    path, _ = _broken(tmp_path, "cp949")
    cmd = [sys.executable, str(ROOT / "generate_sft_data.py"), "--input_file", str(path),
           "--output_dir", str(tmp_path / "o"), "--base_url", "http://127.0.0.1:9/v1"]  # fmt: skip
    proc = subprocess.run(cmd, capture_output=True, text=True, env=gen_env(), timeout=120)
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    assert proc.stderr.strip() == (
        f"error: {path}:1: not UTF-8 text (byte 0xc7 at column 14); save the file as UTF-8 "
        "(fields present: problem, answer)"
    )


def test_skip_bad_rows_logs_and_counts_them(tmp_path, capsys, mock_server):
    data = tmp_path / "data"
    data.mkdir()
    shapes.write_gsm(data)
    rows = ['{"question": "Bad row one?"}', "{not json", *map(json.dumps, shapes.GSM_ROWS[:2])]
    (data / "gsm_dup.jsonl").write_text("\n".join(rows) + "\n", encoding="utf-8")
    srv = mock_server(data_dir=str(data), skip_bad_rows=True, p_correct=1.0)
    out = tmp_path / "out"
    argv = ["--base_url", srv.base_url, "--data_dir", str(data), "--output_dir", str(out),
            "--no_progress", "--n", "1", "--skip_bad_rows"]  # fmt: skip
    rc, stdout, err = run(capsys, argv)  # the log goes to stderr
    assert rc == 0, err
    assert "2 bad rows skipped (--skip_bad_rows), the first 2:" in err
    assert f"{data / 'gsm_dup.jsonl'}:1: no gold: missing 'answer'" in err
    assert f"{data / 'gsm_dup.jsonl'}:2: invalid JSON" in err
    assert "2 identical problems merged (asked once)" in err
    assert "gsm_test.jsonl:1 same as gsm_dup.jsonl:3" in err  # files in name order
    inputs = json.loads((out / "report.json").read_text())["generation"]["inputs"]  # merged
    assert (inputs["bad_rows_skipped"], inputs["identical_merged"], inputs["problems"]) == (2, 2, 5)
    assert {f["source"]: f["bad_rows_skipped"] for f in inputs["files"]} == {
        "gsm_dup": 2,
        "gsm_test": 0,
    }
    # Problems keep their row as index: gsm_dup's rows 3 and 4 are problems 2 and 3; gsm_test
    # asks only its rows 3 to 5, the first two being the same problems.
    assert sorted(p.name for p in (out / "gsm_dup" / SUBJECTIVE).glob("*.jsonl")) == [
        "2_0.jsonl",
        "3_0.jsonl",
    ]
    assert sorted(p.name for p in (out / "gsm_test" / SUBJECTIVE).glob("*.jsonl")) == [
        "2_0.jsonl",
        "3_0.jsonl",
        "4_0.jsonl",
    ]
    assert json.loads((out / "report.json").read_text())["totals"]["stray"] == 0
    assert (
        "Inputs: 5 problems from 2 file(s) (--versions auto); 2 bad rows skipped "
        "(--skip_bad_rows); 2 identical problems merged (asked once)"
    ) in " ".join(stdout.split())  # the printed report (wrapped to the terminal)


# --- the whole run: every shape in one folder, against the stand-in ---


def expected_golds(folder: Path) -> dict[tuple[str, str, str], object]:
    """{(source, type, problem text): gold} of every version --versions auto asks."""
    expected = {}
    for shape, writer in shapes.WRITERS.items():
        source = writer(folder).stem
        for text, (free, mc) in shapes.GOLDS[shape].items():
            expected[(source, SUBJECTIVE, text)] = free
            if mc is not None:
                expected[(source, MULTIPLE, text)] = mc
    return expected


def test_every_shape_in_one_data_dir_stored_with_its_gold(tmp_path, capsys, mock_server):
    data = tmp_path / "data"
    shapes.write_all(data)
    srv = mock_server(data_dir=str(data), p_correct=1.0, p_no_box=0.0)
    out = tmp_path / "out"
    argv = ["--base_url", srv.base_url, "--data_dir", str(data), "--output_dir", str(out),
            "--no_progress", "--n", "1", "--no_merge"]  # fmt: skip
    rc, stdout, err = run(capsys, argv)
    assert rc == 0, err
    expected = expected_golds(tmp_path / "again")
    got = {}
    for path in sorted(out.glob("*/*/*.jsonl")):
        if path.parent.name not in (SUBJECTIVE, MULTIPLE):
            continue
        rec = json.loads(path.read_text(encoding="utf-8"))
        meta = rec["meta"]
        name = meta["row_key"].rsplit(":", 1)[0]  # the row key joins back to the input row
        text = next(r.text for r in read_problems(data / name) if r.row_key == meta["row_key"])
        got[(meta["source"], meta["type"], text)] = rec["answer"]
        assert validate_item(rec)["is_correct"], (rec["answer"], rec["messages"][-1])
        assert bool(HANGUL.search(meta["prompt"])) == (meta["source"] == "csat_math")
    assert got == expected  # every problem, every version it has, its gold, graded correct
    inputs = json.loads((out / ".generation.json").read_text())["inputs"]
    assert inputs["problems"] == 35 and inputs["bad_rows_skipped"] == 0
    assert {f["source"]: f["gold_from"] for f in inputs["files"]}["gsm_test"] == {
        "'#### N' ending of the answer field": 5
    }


def test_versions_both_restores_two_versions_per_problem(tmp_path, capsys, mock_server):
    data = tmp_path / "data"
    shapes.write_gsm(data)
    srv = mock_server(data_dir=str(data), p_correct=1.0)
    out = tmp_path / "out"
    argv = ["--base_url", srv.base_url, "--data_dir", str(data), "--output_dir", str(out),
            "--no_progress", "--n", "1", "--no_merge"]  # fmt: skip
    assert run(capsys, [*argv, "--versions", "both"])[0] == 0
    assert len(list((out / "gsm_test" / MULTIPLE).glob("*.jsonl"))) == 5
    assert len(list((out / "gsm_test" / SUBJECTIVE).glob("*.jsonl"))) == 5


# --- the stand-in answers any data ---


def test_stand_in_recognises_every_shape(tmp_path):
    from sftkit.demo.mock_model import AnswerBook

    shapes.write_all(tmp_path)
    shapes.write_parquet_fields(tmp_path / "mapped")
    book = AnswerBook.load(tmp_path)
    paths, _ = input_files(tmp_path, [])
    versions = [v for p in collect(paths).problems for v in build_versions(p, "both")]
    for v in versions:
        entry = book.lookup(build_prompt(v, BUNDLED, 3))
        assert entry is not None and entry.version.gold == v.gold, v.body
    mapped = AnswerBook.load(tmp_path / "mapped", fields="problem=query,answer=label")
    assert len(mapped.entries) == 5 * 2


@pytest.mark.e2e
def test_mock_server_cli_takes_input_files_and_fields(tmp_path):
    path = shapes.write_parquet_fields(tmp_path)
    cmd = [sys.executable, "-m", "sftkit.mock_server", "--input_file", str(path),
           "--fields", "problem=uid", "--port", "0"]  # fmt: skip
    proc = subprocess.run(cmd, capture_output=True, text=True, env=gen_env(), timeout=120)
    assert proc.returncode == 2 and "mine.parquet:1: no gold" in proc.stderr


@pytest.mark.e2e
def test_launcher_demo_on_own_data(tmp_path):
    """The launcher's stand-in answers the user's folder: every shape stored, graded, merged."""
    data = tmp_path / "data"
    shapes.write_all(data)
    rows = [{"question": "What is 8 + 9?", "answer": "8+9=17\n#### 17"}, {"question": "No gold?"}]
    (data / "zz_more.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows), "utf-8")
    out = tmp_path / "out"
    cmd = ["bash", str(ROOT / "run_sft_pipeline.sh"), "--demo", "--no-tmux", "--data_dir",
           str(data), "--output_dir", str(out), "--n", "2", "--", "--skip_bad_rows"]  # fmt: skip
    env = {**gen_env(), "PYTHON": sys.executable, "STOP_DELAY": "0"}
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=280, cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    report = json.loads((out / "report.json").read_text())
    inputs = report["generation"]["inputs"]
    assert inputs["bad_rows_skipped"] == 1 and inputs["problems"] == 36
    rows = {(r["source"], r["type"]): r for r in report["rows"]}
    assert rows[("gsm_test", SUBJECTIVE)]["samples"] == 10 and ("gsm_test", MULTIPLE) not in rows
    assert rows[("mmlu_math", MULTIPLE)]["samples"] == 10
    assert report["totals"]["graded"] == report["totals"]["samples"] == 2 * 54
    merged = (out / "merged" / "sft_math_all_messages.jsonl").read_text(encoding="utf-8")
    golds = expected_golds(tmp_path / "again")
    golds[("zz_more", SUBJECTIVE, "What is 8 + 9?")] = "17"
    stored = [json.loads(p.read_text("utf-8")) for p in out.glob(f"*/{SUBJECTIVE}/*.jsonl")]
    stored += [json.loads(p.read_text("utf-8")) for p in out.glob(f"*/{MULTIPLE}/*.jsonl")]
    # Each with the gold the input meant (the merge writes a number gold as text: "6").
    for rec in [*stored, *map(json.loads, merged.splitlines())]:
        meta = rec["meta"]
        name = meta["row_key"].rsplit(":", 1)[0]
        text = next(r.text for r in read_problems(data / name, skip_bad_rows=True)
                    if r.row_key == meta["row_key"])  # fmt: skip
        assert str(rec["answer"]) == str(golds[(meta["source"], meta["type"], text)])
    m = report["totals"]["merge"]  # correct = merged + filtered (issue 20's filters) + duplicates
    assert m["merged"] + m["filtered"] + m["duplicates"] == report["totals"]["correct"]
    assert len(merged.splitlines()) == m["merged"] > 0
    assert report["totals"]["correct"] > 0 and report["totals"]["stray"] == 0
