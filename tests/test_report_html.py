"""report.html: written by every merge, self-contained, its figures present and its sample
browser holding the expected samples; checked by parsing the page (the browser tier, which opens
it in Chromium, is tests/test_report_browser.py)."""

from __future__ import annotations

import json
import subprocess
import sys
from collections import defaultdict
from html.parser import HTMLParser
from pathlib import Path

import pytest

from sftkit.common.jsonl import append_jsonl
from sftkit.output import layout
from sftkit.output.drops import drops
from sftkit.output.finish import merge_and_report
from sftkit.output.report_data import rank

REPO = Path(__file__).resolve().parents[1]
SUBJ, MULT = "subjectives", "multiples"


class Page(HTMLParser):
    """The parts of report.html the tests look at: figures (id -> has an <svg>), the sample
    articles (their data-* attributes and the text of their parts), every tag's attributes."""

    def __init__(self, text: str):
        super().__init__()
        self.figures: dict[str, bool] = {}
        self.articles: list[dict] = []
        self.tags: list[tuple[str, dict]] = []
        self.scripts: list[str] = []
        self._figure = None
        self._part = None  # (article, class of the <pre>/<code> we are in)
        self._in_details = 0
        self._in_script = False
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        self.tags.append((tag, a))
        if tag == "figure":
            self._figure = a.get("id")
            self.figures[self._figure] = False
        elif tag == "svg" and self._figure:
            self.figures[self._figure] = True
        elif tag == "article":
            art = {k[5:]: v for k, v in a.items() if k.startswith("data-")}
            self.articles.append({**art, "text": defaultdict(str)})
        elif tag == "details":
            self._in_details += 1
        elif tag in ("pre", "code") and self.articles:
            cls = a.get("class") or ("reasoning" if self._in_details else None)
            self._part = cls
        elif tag == "script":
            self._in_script = True

    def handle_endtag(self, tag):
        if tag == "figure":
            self._figure = None
        elif tag == "details":
            self._in_details -= 1
        elif tag in ("pre", "code"):
            self._part = None
        elif tag == "script":
            self._in_script = False

    def handle_data(self, data):
        if self._in_script:
            self.scripts.append(data)
        if self._part and self.articles:
            self.articles[-1]["text"][self._part] += data


@pytest.fixture
def out(tmp_path, sample_writer):
    """Two sources. algebra/subjectives: problems 0-4 x 3 samples, graded by p+s parity (even
    correct), plus one `no_box` line for 4_2; algebra/multiples: 2 correct; geo/subjectives: one
    sample with a long reasoning (folded), one ungraded, and an open failure."""
    w = sample_writer
    for p in range(5):
        for s in range(3):
            w(tmp_path, "algebra", SUBJ, p, s, correct=(p + s) % 2 == 0, answer=p + 10,
              problem_id=f"alg-{p:03d}", usage=(10, 30 + 40 * s))  # fmt: skip
    folder = layout.type_dir(tmp_path, "algebra", SUBJ)
    st = (folder / "4_2.jsonl").stat()
    append_jsonl(layout.verdict_log(folder), {
        "file": "4_2.jsonl", "is_correct": False, "extracted_answer": None, "ground_truth": 14,
        "reason": "no_box", "mtime_ns": st.st_mtime_ns, "size": st.st_size,
    })  # fmt: skip
    (layout.validated_dir(folder) / "4_2.jsonl").unlink()  # the watcher removes a revoked copy
    w(tmp_path, "algebra", MULT, 0, 0, correct=True, answer=2)
    w(tmp_path, "algebra", MULT, 1, 0, correct=True, answer=4)
    w(tmp_path, "geo", SUBJ, 0, 0, correct=True, reasoning="step " * 400, problem_id="g-0")
    w(tmp_path, "geo", SUBJ, 1, 0, correct=None, problem_id="g-1")
    append_jsonl(layout.failures_file(tmp_path, "geo"), {
        "generation_id": "geo/subjectives/2_0", "type": SUBJ, "problem_index": 2,
        "sample_index": 0, "error": "timeout after 3600 s (2 attempts)",
    })  # fmt: skip
    return tmp_path


def read_page(out: Path) -> Page:
    return Page(layout.report_html_file(out).read_text(encoding="utf-8"))


def stored_groups(out: Path) -> dict[tuple[str, str, str], list[tuple[int, int]]]:
    """(source, type, latest reason) -> [(p, s)] of every graded stored sample."""
    groups = defaultdict(list)
    for source in layout.list_sources(out):
        for type_ in layout.source_types(out / source, samples=True):
            latest = layout.read_verdict_log(layout.verdict_log(out / source / type_))[0]
            for name, line in latest.items():
                p, s = layout.parse_sample_name(name)
                if (out / source / type_ / name).exists():
                    groups[(source, type_, line["reason"])].append((p, s))
    return groups


@pytest.mark.e2e
def test_every_merge_writes_a_self_contained_page_with_its_figures(out):
    assert merge_and_report(str(out), "messages", "think_tags", None)
    page = read_page(out)
    for fig in ("fig-acceptance", "fig-pass-rates", "fig-tokens", "fig-reasons"):
        assert page.figures.get(fig) is True, f"{fig} missing or without an <svg>"
    # Offline: nothing is fetched at view time (no external script, stylesheet, image or font).
    for tag, attrs in page.tags:
        assert "src" not in attrs or tag == "svg", (tag, attrs)
        assert tag != "link", attrs
        href = attrs.get("href") or attrs.get("xlink:href") or ""
        assert not href.startswith(("http:", "https:", "//")), (tag, attrs)
    assert page.scripts and "querySelectorAll" in "".join(page.scripts)
    text = layout.report_html_file(out).read_text(encoding="utf-8")
    assert "https://" not in text.replace("http://www.w3.org/", "")
    # The open failure, the zero-correct problem, the grader's reasons, the merge's duplicates.
    assert "geo/subjectives/2_0" in text and "timeout after 3600 s" in text
    assert "Open failures (1)" in text
    assert "id='drops-merge'" in text
    report = json.loads(layout.report_file(out).read_text(encoding="utf-8"))
    hist = [r["completion_tokens_hist"] for r in report["rows"]]
    graded = sum(r["graded"] for r in report["rows"])
    assert sum(sum(h["accepted"]) + sum(h["rejected"]) for h in hist) == graded


@pytest.mark.e2e
def test_browser_holds_the_expected_samples_reproducibly(out):
    k = 2
    assert merge_and_report(str(out), "messages", "think_tags", None, browse_samples=k)
    first = layout.report_html_file(out).read_text(encoding="utf-8")
    page = Page(first)
    shown = defaultdict(list)
    for art in page.articles:
        _, _, ps = art["gid"].rpartition("/")
        p, s = map(int, ps.split("_"))
        shown[(art["source"], art["type"], art["reason"])].append((p, s))
    groups = stored_groups(out)
    assert ("algebra", SUBJ, "no_box") in groups  # the re-graded sample shows its latest reason
    assert set(shown) == set(groups)
    for key, members in groups.items():
        # Up to k per source x version x reason, chosen by the fixed rank: the same every time.
        expected = sorted(members, key=lambda ps: rank(*ps))[:k]
        assert sorted(shown[key]) == sorted(expected), key
    # A second merge shows the same samples (the page differs only in its time stamps).
    assert merge_and_report(str(out), "messages", "think_tags", None, browse_samples=k)
    again = Page(layout.report_html_file(out).read_text(encoding="utf-8"))
    assert [a["gid"] for a in again.articles] == [a["gid"] for a in page.articles]


@pytest.mark.e2e
def test_each_sample_shows_problem_gold_extracted_reason_and_folded_reasoning(out):
    assert merge_and_report(str(out), "messages", "think_tags", None, browse_samples=20)
    page = read_page(out)
    by_gid = {a["gid"]: a for a in page.articles}
    a = by_gid["algebra/subjectives/3_1"]  # 3 + 1 even: correct
    record = layout.read_sample(layout.sample_path(out, "algebra", SUBJ, 3, 1))
    assert (a["reason"], a["pid"]) == ("match_exact", "alg-003")
    assert a["text"]["gold"] == "13" and a["text"]["extracted"] == "13"
    assert a["text"]["problem"] == record["meta"]["prompt"]
    assert "\\boxed{13}" in a["text"]["answer"] and "<think>" not in a["text"]["answer"]
    assert a["text"]["reasoning"] == "think it through"  # inside <details>: folded away
    no_box = by_gid["algebra/subjectives/4_2"]
    assert no_box["reason"] == "no_box" and no_box["text"]["extracted"] == "None"
    assert by_gid["geo/subjectives/0_0"]["text"]["reasoning"].startswith("step step")
    assert "geo/subjectives/1_0" not in by_gid  # ungraded: no reason to browse it under
    # Filters select by these; the page's own <select> offers exactly the values present.
    options = {a.get("value") for t, a in page.tags if t == "option"} - {""}
    assert options == {"algebra", "geo", SUBJ, MULT, "match_exact", "mismatch", "no_box"}


@pytest.mark.e2e
def test_browse_samples_zero_leaves_an_empty_browser(out):
    assert merge_and_report(str(out), "messages", "think_tags", None, browse_samples=0)
    page = read_page(out)
    assert page.articles == [] and page.figures["fig-acceptance"]


@pytest.mark.e2e
def test_a_page_that_cannot_be_written_fails_the_merge_step_but_keeps_the_data(out):
    import logging

    # The generator's logger does not propagate (the CLI prints it): listen to it directly.
    seen: list[str] = []
    handler = logging.Handler()
    handler.emit = lambda record: seen.append(record.getMessage())
    logging.getLogger("generate").addHandler(handler)
    try:
        layout.report_html_file(out).mkdir()  # a folder where the page goes: the write fails
        assert not merge_and_report(str(out), "messages", "think_tags", None)
    finally:
        logging.getLogger("generate").removeHandler(handler)
    assert layout.merged_file(out, layout.ALL_NAME, "messages").exists()
    assert layout.report_file(out).exists() and layout.dataset_card_file(out).exists()
    assert any(m.startswith("report.html failed: IsADirectoryError") for m in seen), seen


def test_drops_reads_what_report_json_holds_and_only_that():
    assert drops({"rows": []}) == {}
    report = {
        "rows": [
            {"source": "a", "type": "t", "filtered": {"truncated": 2, "hedged": 1}},
            {"source": "b", "type": "t", "filtered": {"truncated": 1, "too_long": 0}},
        ],
        "contamination": {"by_benchmark": {"aime24.jsonl": 3}},
        "near_duplicates": [{"members": [1, 2, 3]}, {"members": [7, 9]}],
    }
    got = drops(report, merge_duplicates=4)
    assert got["filters"] == {"truncated": 3, "hedged": 1}
    assert got["contamination"] == {"aime24.jsonl": 3}
    assert got["near-duplicates"] == {"clusters": 2, "problems in clusters": 5}
    assert got["merge"] == {"duplicates": 4}
    # The merge's own counts (issue 20's rows[].merge) come before any other shape.
    merged = {"rows": [
        {"merge": {"by_reason": {"hedged": 2}, "duplicates": 1, "judge_recovered": 0}},
        {"merge": {"by_reason": {"hedged": 1, "truncated": 1}, "duplicates": 0}},
        {"merge": None},
    ]}  # fmt: skip
    got = drops(merged, merge_duplicates=9)
    assert got == {"filters": {"hedged": 3, "truncated": 1}, "merge": {"duplicates": 1}}
    # Issue 21's screening blocks at report.json's top level.
    screened = drops({
        "decontamination": {"ngram": 8, "problems_checked": 40, "contaminated": 3, "benchmarks": [
            {"file": "aime24.jsonl", "contaminated": 2}, {"file": "math500.jsonl", "contaminated": 1}
        ]},
        "near_duplicates": {"mode": "report", "threshold": 0.7, "shingle_words": 5, "clusters": 2,
                            "problems_in_clusters": 5, "different_gold_clusters": 1, "dropped": 0},
    })  # fmt: skip
    assert screened["contamination"] == {"aime24.jsonl": 2, "math500.jsonl": 1}
    assert screened["near-duplicates"] == {
        "clusters": 2, "problems in clusters": 5, "clusters with different golds": 1,
        "problems dropped": 0,
    }  # fmt: skip
    assert "contamination" not in drops({"decontamination": None, "near_duplicates": None})
    listed = drops({"contamination": [{"benchmark": "m500", "count": 2}, {"benchmark": "gpqa"}]})
    assert listed["contamination"] == {"m500": 2, "gpqa": 1}


@pytest.mark.e2e
def test_filter_counts_in_report_json_are_drawn(out):
    from sftkit.output.report import build_report
    from sftkit.output.report_html import write_report_html

    report = build_report(out)
    report["rows"][0]["filtered"] = {"truncated": 4, "repetition": 1}
    page = Page(write_report_html(out, report).read_text(encoding="utf-8"))
    assert page.figures.get("fig-drops-filters") is True
    text = layout.report_html_file(out).read_text(encoding="utf-8")
    assert "report.json has no contamination counts" in text


@pytest.mark.e2e
def test_merge_only_cli_writes_page_card_and_records_its_command(out):
    cmd = [sys.executable, str(REPO / "generate_sft_data.py"), "--merge_only",
           "--output_dir", str(out), "--browse_samples", "1"]  # fmt: skip
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr
    assert f"report.html: {layout.report_html_file(out)}" in res.stderr
    page = read_page(out)
    assert len(page.articles) == len(stored_groups(out))  # one per group
    ran = [json.loads(line) for line in layout.commands_file(out).read_text().splitlines()]
    assert ran[-1]["step"] == "merge" and "--merge_only" in ran[-1]["command"]
    assert "--browse_samples 1" in ran[-1]["command"]
    assert "--merge_only" in layout.report_html_file(out).read_text(encoding="utf-8")


def test_commands_keep_pipeline_order_and_fold_reruns(tmp_path):
    from sftkit.output import commands

    commands.record(tmp_path, "merge", ["generate_sft_data.py", "--merge_only"])
    commands.record(tmp_path, "generate", ["generate_sft_data.py", "--n", "8"])
    commands.record(tmp_path, "launch", ["./run_sft_pipeline.sh", "--n", "8"], python=False)
    commands.record(tmp_path, "generate", ["generate_sft_data.py", "--n", "8"])  # resumed
    ran = commands.latest(tmp_path)
    assert [(c["step"], c["runs"]) for c in ran] == [("launch", 1), ("generate", 2), ("merge", 1)]
    assert ran[0]["command"] == "./run_sft_pipeline.sh --n 8"
    assert ran[1]["command"].endswith("generate_sft_data.py --n 8")


def test_browsed_text_is_bounded_and_shared_by_every_source_and_version(out, monkeypatch):
    from sftkit.output import report_data

    # About four short samples' worth of text (~80 bytes each), split over three source x
    # versions: each shows some, none shows all, and the first does not take the whole budget.
    monkeypatch.setattr(report_data, "SAMPLE_BUDGET_BYTES", 300)
    assert merge_and_report(str(out), "messages", "think_tags", None, browse_samples=20)
    shown = [(a["source"], a["type"]) for a in read_page(out).articles]
    assert set(shown) == {("algebra", MULT), ("algebra", SUBJ), ("geo", SUBJ)}
    assert shown.count(("algebra", SUBJ)) <= 2  # of 15 stored
    monkeypatch.setattr(report_data, "SAMPLE_BUDGET_BYTES", 0)
    assert merge_and_report(str(out), "messages", "think_tags", None, browse_samples=20)
    assert read_page(out).articles == []
