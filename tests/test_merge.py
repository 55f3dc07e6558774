r"""Merge: validated samples only, numeric order, dedup, atomic writes, and files that `datasets`
and LLaMA-Factory's dataset_info.json load as written."""

from __future__ import annotations

import json
import os
import shutil

import pytest

from sftkit.output.formats import (
    FORMATS,
    REASONING_MODES,
    THINK_CLOSE,
    THINK_OPEN,
    final_text,
    parse,
)
from sftkit.output.merge import merge_outputs

SUBJ, MULT = "subjectives", "multiples"


def build_tree(out, write):
    """Two sources, both types, mixed stored formats and modes, golds of both types."""
    for p in (0, 2, 10):
        for s in (0, 1):
            write(out, "b_math", SUBJ, p, s, correct=(p != 2), answer="\\frac{1}{2}")
            write(out, "b_math", MULT, p, s, correct=(s == 0), fmt="sharegpt", answer=p % 5 + 1)
    write(out, "a_math", SUBJ, 1, 0, fmt="alpaca", mode="field", answer=7)
    write(out, "a_math", MULT, 1, 0, fmt="simple", mode="drop", reasoning="only in meta", answer=2)
    write(out, "a_math", MULT, 1, 1, correct=None)  # not graded yet
    write(out, "a_math", MULT, 1, 2, correct=False)
    # An older writer stored numbers where others store text: merged files must still load.
    path = out / "a_math" / f"{SUBJ}_validated" / "1_0.jsonl"
    record = json.loads(path.read_text(encoding="utf-8"))
    record["meta"] |= {"problem_id": 1, "extracted_answer": 7}
    path.write_text(json.dumps(record) + "\n", encoding="utf-8")


def merged(out, name) -> list[dict]:
    text = (out / "merged" / name).read_text(encoding="utf-8")
    return [json.loads(line) for line in text.splitlines()]


# --- what gets merged ---


def test_only_validated_samples_in_numeric_order(tmp_path, sample_writer):
    build_tree(tmp_path, sample_writer)
    stats = merge_outputs(tmp_path, "messages")
    records = merged(tmp_path, "sft_math_all_messages.jsonl")
    order = [
        (
            r["meta"]["source"],
            r["meta"]["type"],
            r["meta"]["problem_index"],
            r["meta"]["sample_index"],
        )
        for r in records
    ]
    assert order == [
        ("a_math", SUBJ, 1, 0),
        ("a_math", MULT, 1, 0),
        ("b_math", SUBJ, 0, 0),
        ("b_math", SUBJ, 0, 1),
        ("b_math", SUBJ, 10, 0),  # problem 10 after problem 2 would be; 2 has nothing correct
        ("b_math", SUBJ, 10, 1),
        ("b_math", MULT, 0, 0),
        ("b_math", MULT, 2, 0),
        ("b_math", MULT, 10, 0),
    ]
    assert (stats.files_read, stats.written, stats.duplicates) == (9, 9, 0)
    assert stats.by_source == {"a_math": 2, "b_math": 7}
    assert [r["meta"]["generation_id"] for r in merged(tmp_path, "b_math_messages.jsonl")] == [
        r["meta"]["generation_id"] for r in records[2:]
    ]
    assert merged(tmp_path, "a_math_messages.jsonl") == records[:2]
    assert all(r["meta"]["verdict"] == "match_exact" for r in records)


def test_order_is_numeric_for_problems_and_samples(tmp_path, sample_writer):
    for p, s in [(10, 0), (2, 10), (2, 9), (1, 0)]:
        sample_writer(tmp_path, "src", SUBJ, p, s)
    merge_outputs(tmp_path, "simple")
    ids = [r["generation_id"] for r in merged(tmp_path, "sft_math_all_simple.jsonl")]
    assert ids == [
        "src/subjectives/1_0",
        "src/subjectives/2_9",
        "src/subjectives/2_10",
        "src/subjectives/10_0",
    ]


def test_temp_and_hidden_files_are_never_read(tmp_path, sample_writer):
    sample_writer(tmp_path, "src", SUBJ, 0, 0)
    folder = tmp_path / "src" / f"{SUBJ}_validated"
    (folder / ".0_1.jsonl.x1y2.tmp").write_text('{"half": ')
    (folder / ".1_0.jsonl").write_text("not json")
    stats = merge_outputs(tmp_path, "messages")
    assert (stats.files_read, stats.written, stats.bad_files) == (1, 1, ())


def test_bad_validated_files_are_reported_and_skipped(tmp_path, sample_writer):
    sample_writer(tmp_path, "src", SUBJ, 0, 0)
    sample_writer(tmp_path, "src", SUBJ, 3, 0)
    folder = tmp_path / "src" / f"{SUBJ}_validated"
    (folder / "1_0.jsonl").write_text('{"messages": [{"role": "user", "content": "p"}]\n')
    (folder / "2_0.jsonl").write_text('{"meta": {}}\n')
    (folder / "6_0.jsonl").write_text(
        '{"output": "\\\\boxed{1}", "instruction": "p", "meta": "x"}\n'
    )
    (folder / "4_0.jsonl").write_bytes(b"\xff\xfe garbage")
    (folder / "5_0.jsonl").write_text("")
    (folder / "notes.jsonl").write_text("{}\n")
    stats = merge_outputs(tmp_path, "alpaca")
    assert stats.written == 3
    bad = "\n".join(stats.bad_files)
    assert len(stats.bad_files) == 5
    for name in (
        "1_0.jsonl:1: invalid JSON",
        "2_0.jsonl: no assistant turn",
        "4_0.jsonl",
        "5_0.jsonl",
    ):
        assert name in bad
    assert "notes.jsonl: not a <problem>_<sample>.jsonl name" in bad
    records = merged(tmp_path, "sft_math_all_alpaca.jsonl")
    assert [r["meta"].get("problem_index") for r in records] == [0, 3, None]
    assert records[2]["output"] == "\\boxed{1}" and records[2]["meta"]["format"] == "alpaca"


def test_merged_folder_and_hidden_folders_are_not_sources(tmp_path, sample_writer):
    sample_writer(tmp_path, "src", SUBJ, 0, 0)
    merge_outputs(tmp_path, "messages")
    sample_writer(tmp_path, ".trash", SUBJ, 0, 0)
    stats = merge_outputs(tmp_path, "messages")
    assert stats.by_source == {"src": 1}
    info = json.loads((tmp_path / "merged" / "dataset_info.json").read_text())
    assert sorted(info) == ["sft_math_all", "src"]


def test_empty_output_still_writes_loadable_files(tmp_path):
    stats = merge_outputs(tmp_path, "sharegpt")
    assert stats.written == 0
    assert (tmp_path / "merged" / "sft_math_all_sharegpt.jsonl").read_text() == ""


def test_unknown_format_is_rejected_before_writing(tmp_path):
    with pytest.raises(ValueError, match="unknown format"):
        merge_outputs(tmp_path, "chatml")
    assert not (tmp_path / "merged").exists()


# --- dedup ---


def test_identical_solutions_to_one_prompt_are_merged_once(tmp_path, sample_writer):
    same = {"prompt": "P", "content": "\\boxed{3}", "reasoning": "R"}
    sample_writer(tmp_path, "src", SUBJ, 0, 0, **same)
    sample_writer(tmp_path, "src", SUBJ, 0, 1, **same)  # duplicate of 0_0
    sample_writer(tmp_path, "src", SUBJ, 0, 2, **{**same, "reasoning": "other way"})
    sample_writer(tmp_path, "src", SUBJ, 0, 3, **{**same, "prompt": "P'"})
    sample_writer(tmp_path, "src", SUBJ, 0, 4, **same, fmt="alpaca")  # same example, other format
    stats = merge_outputs(tmp_path, "messages", "think_tags")
    kept = [r["meta"]["sample_index"] for r in merged(tmp_path, "sft_math_all_messages.jsonl")]
    assert kept == [0, 2, 3] and stats.duplicates == 2
    # Without reasoning, 0_2 teaches exactly what 0_0 does.
    stats = merge_outputs(tmp_path, "messages", "drop")
    kept = [r["meta"]["sample_index"] for r in merged(tmp_path, "sft_math_all_messages.jsonl")]
    assert kept == [0, 3] and stats.duplicates == 3


# --- re-rendering ---


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("mode", REASONING_MODES)
def test_any_stored_format_merges_into_any_format(tmp_path, sample_writer, fmt, mode):
    build_tree(tmp_path, sample_writer)
    merge_outputs(tmp_path, fmt, mode)
    records = merged(tmp_path, f"sft_math_all_{fmt}.jsonl")
    assert len(records) == 9
    for r in records:
        conv = parse(r)
        assert final_text(r).startswith("so the answer is \\boxed{")
        assert r["meta"]["format"] == fmt and r["meta"]["reasoning_mode"] == mode
        assert isinstance(r["answer"], str) and r["meta"]["verdict"]
        expected = (
            "only in meta"
            if r["meta"]["generation_id"] == "a_math/multiples/1_0"
            else "think it through"
        )
        training = json.dumps({k: v for k, v in r.items() if k != "meta"}, ensure_ascii=False)
        assert (expected in training) == (mode != "drop")
        # Drop mode keeps the reasoning in meta only, so the record can be re-merged with it.
        assert conv.reasoning == expected and ("reasoning" in r["meta"]) == (mode == "drop")
        assert training.count(THINK_OPEN) == training.count(THINK_CLOSE) == (mode == "think_tags")


def test_system_prompt_is_set_on_every_record(tmp_path, sample_writer):
    build_tree(tmp_path, sample_writer)
    merge_outputs(tmp_path, "sharegpt", system="Solve step by step.")
    records = merged(tmp_path, "sft_math_all_sharegpt.jsonl")
    assert {r["system"] for r in records} == {"Solve step by step."}
    info = json.loads((tmp_path / "merged" / "dataset_info.json").read_text())
    assert info["sft_math_all"]["columns"]["system"] == "system"
    merge_outputs(tmp_path, "messages", system="S")
    first = merged(tmp_path, "sft_math_all_messages.jsonl")[0]["messages"][0]
    assert first == {"role": "system", "content": "S"}


# --- atomic writes ---


def test_writes_leave_no_temp_files_and_a_failed_write_keeps_the_old_file(
    tmp_path, sample_writer, monkeypatch
):
    sample_writer(tmp_path, "src", SUBJ, 0, 0)
    merge_outputs(tmp_path, "messages")
    assert not [p for p in (tmp_path / "merged").iterdir() if p.name.startswith(".")]
    before = (tmp_path / "merged" / "sft_math_all_messages.jsonl").read_bytes()
    sample_writer(tmp_path, "src", SUBJ, 1, 0)

    def disk_full(*_):
        raise OSError("No space left on device")

    monkeypatch.setattr(os, "replace", disk_full)
    with pytest.raises(OSError, match="No space"):
        merge_outputs(tmp_path, "messages")
    monkeypatch.undo()
    assert (tmp_path / "merged" / "sft_math_all_messages.jsonl").read_bytes() == before
    assert not [p for p in (tmp_path / "merged").iterdir() if p.name.startswith(".")]


# --- trainers load the files as written ---

TRAINER_COLUMNS = {
    "messages": {"messages", "answer", "meta"},
    "sharegpt": {"conversations", "answer", "meta"},
    "prompt_completion": {"prompt", "completion", "answer", "meta"},
    "alpaca": {"instruction", "input", "output", "answer", "meta"},
    "simple": {"problem", "solution", "answer", "source", "generation_id", "meta"},
}


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("mode", ["think_tags", "field"])
@pytest.mark.e2e
def test_datasets_loads_every_merged_format(tmp_path, sample_writer, load_dataset, fmt, mode):
    build_tree(tmp_path, sample_writer)
    merge_outputs(tmp_path, fmt, mode)
    for name in (f"sft_math_all_{fmt}.jsonl", f"b_math_{fmt}.jsonl"):
        ds = load_dataset("json", data_files=str(tmp_path / "merged" / name), split="train")
        assert TRAINER_COLUMNS[fmt] <= set(ds.column_names)
        assert len(ds) == len(merged(tmp_path, name))
        for row in ds:
            if fmt == "messages":  # TRL SFTTrainer / axolotl chat_template: role + content
                assert [m["role"] for m in row["messages"]] == ["user", "assistant"]
                assert all(isinstance(m["content"], str) and m["content"] for m in row["messages"])
            elif fmt == "prompt_completion":  # TRL: loss on the completion only
                assert [m["role"] for m in row["prompt"]] == ["user"]
                assert [m["role"] for m in row["completion"]] == ["assistant"]
                assert "\\boxed{" in row["completion"][0]["content"]
            elif fmt == "sharegpt":  # ShareGPT: from + value, human then gpt
                assert [t["from"] for t in row["conversations"]] == ["human", "gpt"]
                assert all(isinstance(t["value"], str) and t["value"] for t in row["conversations"])
            elif fmt == "alpaca":
                assert row["input"] == "" and row["instruction"] and row["output"]
            else:
                assert row["problem"] and row["solution"] and row["generation_id"]
            assert isinstance(row["answer"], str)


def llamafactory_load(info_dir, entry, load_dataset):
    """Apply one dataset_info.json entry the way LLaMA-Factory's converters read it; returns
    [(system, [(role, text), ...])] and fails on anything LLaMA-Factory would reject or drop."""
    path = info_dir / entry["file_name"]
    assert path.is_file(), f"{entry['file_name']} not found next to dataset_info.json"
    ds = load_dataset("json", data_files=str(path), split="train")
    formatting = entry.get("formatting", "alpaca")
    columns = entry["columns"]
    for column in columns.values():
        assert column in ds.column_names, f"column {column!r} missing from {path.name}"
    examples = []
    for row in ds:
        if formatting == "alpaca":
            prompt = row[columns["prompt"]]
            if columns.get("query") and row[columns["query"]]:
                prompt = f"{prompt}\n{row[columns['query']]}"
            system = row[columns["system"]] if "system" in columns else ""
            turns = [("user", prompt), ("assistant", row[columns["response"]])]
        else:
            assert formatting == "sharegpt"
            tags = entry["tags"]
            role, content = tags["role_tag"], tags["content_tag"]
            msgs = row[columns["messages"]]
            if tags.get("system_tag") and msgs and msgs[0][role] == tags["system_tag"]:
                system, msgs = msgs[0][content], msgs[1:]
            else:
                system = row[columns["system"]] if "system" in columns else ""
            assert len(msgs) % 2 == 0, "LLaMA-Factory drops odd-length conversations"
            expected = [tags["user_tag"], tags["assistant_tag"]] * (len(msgs) // 2)
            assert [m[role] for m in msgs] == expected, "roles must alternate user/assistant"
            turns = [
                ("user" if m[role] == tags["user_tag"] else "assistant", m[content]) for m in msgs
            ]
        assert isinstance(system, str)
        assert all(isinstance(text, str) and text for _, text in turns)
        examples.append((system, turns))
    return examples


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("system", [None, "Solve step by step."])
@pytest.mark.e2e
def test_dataset_info_loads_each_merged_file_as_llamafactory_does(
    tmp_path, sample_writer, load_dataset, fmt, system
):
    build_tree(tmp_path, sample_writer)
    stats = merge_outputs(tmp_path, fmt, "think_tags", system=system)
    info_dir = tmp_path / "merged"
    if fmt == "prompt_completion":  # two conversation columns: LLaMA-Factory reads one
        assert not (info_dir / "dataset_info.json").exists()
        assert not any(p.endswith("dataset_info.json") for p in stats.outputs)
        return
    info = json.loads((info_dir / "dataset_info.json").read_text(encoding="utf-8"))
    assert sorted(info) == ["a_math", "b_math", "sft_math_all"]
    for name, entry in info.items():
        examples = llamafactory_load(info_dir, entry, load_dataset)
        assert len(examples) == (stats.written if name == "sft_math_all" else stats.by_source[name])
        for sys_text, turns in examples:
            assert sys_text == (system if system and fmt != "simple" else "")
            assert [r for r, _ in turns] == ["user", "assistant"]
            assert turns[1][1].startswith("<think>\n") and "\\boxed{" in turns[1][1]


def test_prompt_completion_merge_removes_an_older_dataset_info(tmp_path, sample_writer):
    sample_writer(tmp_path, "src", SUBJ, 0, 0)
    merge_outputs(tmp_path, "messages")
    assert (tmp_path / "merged" / "dataset_info.json").is_file()
    stats = merge_outputs(tmp_path, "prompt_completion")
    # It described the messages files; LLaMA-Factory would have loaded those as this merge.
    assert not (tmp_path / "merged" / "dataset_info.json").exists()
    assert stats.outputs == (
        str(tmp_path / "merged" / "sft_math_all_prompt_completion.jsonl"),
        str(tmp_path / "merged" / "src_prompt_completion.jsonl"),
    )


def test_verdict_comes_from_the_log_when_the_copy_lacks_it(tmp_path, sample_writer):
    sample_writer(tmp_path, "src", SUBJ, 0, 0)
    path = tmp_path / "src" / f"{SUBJ}_validated" / "0_0.jsonl"
    record = json.loads(path.read_text(encoding="utf-8"))
    del record["meta"]["verdict"], record["meta"]["extracted_answer"]
    path.write_text(json.dumps(record) + "\n", encoding="utf-8")
    merge_outputs(tmp_path, "messages")
    meta = merged(tmp_path, "sft_math_all_messages.jsonl")[0]["meta"]
    assert (meta["verdict"], meta["extracted_answer"]) == ("match_exact", "3")


def test_a_source_left_without_validated_samples_loses_its_stale_file(tmp_path, sample_writer):
    sample_writer(tmp_path, "a", SUBJ, 0, 0)
    sample_writer(tmp_path, "b", SUBJ, 0, 0)
    sample_writer(tmp_path, "c", SUBJ, 0, 0)
    merge_outputs(tmp_path, "alpaca")
    (tmp_path / "b" / f"{SUBJ}_validated" / "0_0.jsonl").unlink()  # re-graded wrong
    shutil.rmtree(tmp_path / "c" / f"{SUBJ}_validated")
    stats = merge_outputs(tmp_path, "alpaca")
    assert stats.by_source == {"a": 1}
    assert sorted(p.name for p in (tmp_path / "merged").iterdir()) == [
        "a_alpaca.jsonl",
        "dataset_info.json",
        "filtered.jsonl",  # the audit of dropped samples (none here)
        "merge_summary.json",
        "sft_math_all_alpaca.jsonl",
    ]


@pytest.mark.e2e
def test_worker_processes_write_exactly_what_inline_rendering_writes(
    tmp_path, sample_writer, monkeypatch
):
    # Big folders are rendered in worker processes, chunk by chunk; the merged files, the order,
    # the dedup, the skipped files and a verdict read from the log must not change.
    import sftkit.output.merge as merge

    for p in range(7):
        for s in range(3):
            sample_writer(
                tmp_path, "src", SUBJ, p, s, prompt=f"q{p}", content=f"{s % 2} \\boxed{{3}}"
            )
    folder = tmp_path / "src" / f"{SUBJ}_validated"
    (folder / "9_0.jsonl").write_text("{bad\n")
    legacy = json.loads((folder / "2_0.jsonl").read_text())
    del legacy["meta"]["verdict"]  # an older copy: its verdict comes from the log
    (folder / "2_0.jsonl").write_text(json.dumps(legacy) + "\n")
    inline = merge_outputs(tmp_path, "messages")
    first = (tmp_path / "merged" / "sft_math_all_messages.jsonl").read_bytes()
    monkeypatch.setattr(merge, "PARALLEL_FROM", 1)
    monkeypatch.setattr(merge, "CHUNK", 2)
    pooled = merge_outputs(tmp_path, "messages")
    assert (tmp_path / "merged" / "sft_math_all_messages.jsonl").read_bytes() == first
    assert (pooled.written, pooled.duplicates, pooled.bad_files) == (
        inline.written,
        inline.duplicates,
        inline.bad_files,
    )
    assert inline.duplicates > 0 and len(inline.bad_files) == 1
    assert merged(tmp_path, "sft_math_all_messages.jsonl")[2]["meta"]["verdict"] == "match_exact"
