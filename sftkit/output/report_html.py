"""`<output>/report.html`: one self-contained page (no network at view time) with the figures of
report.json drawn, why samples went, the suspicious golds, the open failures, the run signature and
commands, and a sample browser (filter by source, version and reason; find a problem by its id).

Pipeline order: write_report_html() -> collect() (report_data) -> _sections() -> _browser().

Usage:
    report = write_report("sft_output")                      # report.json first
    path = write_report_html("sft_output", report, browse_samples=20)   # sft_output/report.html

Everything on the page comes from report.json, the verdict logs, failures.jsonl, commands.jsonl
and the chosen samples' files (sftkit/output/report_data.py): never from every sample file, so a
million samples write the page in seconds. Figures are matplotlib SVG inlined in the page; the
only script is the browser's filter, inline too.
"""

from __future__ import annotations

import html
import os
import time
from collections import Counter
from pathlib import Path

from sftkit.common.jsonl import atomic_write_text
from sftkit.output import commands, layout, report_plots
from sftkit.output.drops import drops
from sftkit.output.merge import MergeStats
from sftkit.output.report_data import PASS_BUCKETS, ReportData, Sample, collect

MAX_ROWS = 200  # rows listed per table (suspicious golds, zero-correct problems, warnings)
e = html.escape

_CSS = """
body{font:14px/1.45 system-ui,"Noto Sans CJK KR",sans-serif;margin:0 auto;max-width:1100px;
padding:0 16px 40px;color:#222}
h1{margin:18px 0 4px}h2{border-bottom:1px solid #ddd;padding-bottom:3px;margin-top:28px}
nav a{margin-right:12px}.muted{color:#666}.cards{display:flex;flex-wrap:wrap;gap:10px}
.card{border:1px solid #ddd;border-radius:6px;padding:6px 12px;min-width:110px}
.card b{display:block;font-size:20px}table{border-collapse:collapse;margin:8px 0}
td,th{border-bottom:1px solid #eee;padding:3px 8px;text-align:left;vertical-align:top}
td.n,th.n{text-align:right;font-variant-numeric:tabular-nums}svg.plot{width:100%;max-width:820px;height:auto}
figure{margin:8px 0}pre{white-space:pre-wrap;word-break:break-word;background:#f7f7f7;
padding:6px 8px;margin:4px 0;max-height:28em;overflow:auto}code{background:#f2f2f2;padding:0 3px}
.sample{border:1px solid #ddd;border-radius:6px;padding:6px 12px;margin:10px 0}
.sample h3{font-size:14px;margin:4px 0}.tag{border-radius:4px;padding:1px 6px;color:#fff}
.ok{background:#2e8b57}.bad{background:#d0604d}.controls{position:sticky;top:0;background:#fff;
padding:6px 0;border-bottom:1px solid #ddd}.controls select,.controls input{margin-right:10px}
"""

_JS = """
(function () {
  var items = Array.prototype.slice.call(document.querySelectorAll("article.sample"));
  var keys = ["source", "type", "reason"];
  var find = document.getElementById("f-id"), count = document.getElementById("f-count");
  function apply() {
    var id = find.value.trim().toLowerCase(), shown = 0;
    items.forEach(function (a) {
      var ok = keys.every(function (k) {
        var v = document.getElementById("f-" + k).value;
        return !v || a.dataset[k] === v;
      });
      if (ok && id) {
        ok = (a.dataset.pid || "").toLowerCase() === id || a.dataset.gid.toLowerCase() === id ||
          (a.dataset.pid || "").toLowerCase().indexOf(id) >= 0;
      }
      a.hidden = !ok;
      shown += ok ? 1 : 0;
    });
    count.textContent = shown + " of " + items.length + " samples shown" + (id && !shown ?
      ": none with this id among the samples this page holds (up to --browse_samples per " +
      "source, version and reason)" : "");
  }
  keys.forEach(function (k) {
    document.getElementById("f-" + k).addEventListener("change", apply);
  });
  find.addEventListener("input", apply);
  // A link can carry the filters: report.html#reason=mismatch&id=sample-007
  var params = new URLSearchParams(location.hash.slice(1));
  keys.forEach(function (k) {
    if (params.has(k)) document.getElementById("f-" + k).value = params.get(k);
  });
  if (params.has("id")) find.value = params.get("id");
  apply();
})();
"""


def _table(head: tuple, rows: list[tuple], numeric: int = 0) -> str:
    """An HTML table; the last `numeric` columns right-aligned (numbers get thousands commas)."""
    first = len(head) - numeric

    def cell(i: int, value, tag: str = "td") -> str:
        text = f"{value:,}" if isinstance(value, int) and not isinstance(value, bool) else value
        cls = ' class="n"' if i >= first else ""
        return f"<{tag}{cls}>{e('-' if text is None else str(text))}</{tag}>"

    out = ["<table><tr>" + "".join(cell(i, h, "th") for i, h in enumerate(head)) + "</tr>"]
    out += ["<tr>" + "".join(cell(i, v) for i, v in enumerate(r)) + "</tr>" for r in rows]
    return "\n".join(out) + "</table>"


def _more(total: int, shown: int, what: str) -> str:
    return f'<p class="muted">... and {total - shown:,} more {what} (see report.json)</p>' * (
        total > shown
    )


def _pct(num: int, den: int) -> str:
    return f"{100 * num / den:.1f}%" if den else "-"


def _summary(report: dict) -> str:
    t = report.get("totals", {})
    cards = [
        ("problems", t.get("problems", 0)),
        ("samples", t.get("samples", 0)),
        ("graded", t.get("graded", 0)),
        ("correct", t.get("correct", 0)),
        ("accuracy", _pct(t.get("correct", 0), t.get("graded", 0))),
        *([("merged", t["merge"]["merged"])] if isinstance(t.get("merge"), dict) else []),
        ("zero-correct problems", t.get("problems_zero_correct", 0)),
        ("open failures", t.get("failures", 0)),
        ("truncated", t.get("truncations", 0)),
    ]
    cells = [f'<div class="card"><b>{e(f"{v:,}" if isinstance(v, int) else v)}</b>{e(k)}</div>'
             for k, v in cards]  # fmt: skip
    return '<div class="cards">' + "".join(cells) + "</div>"


def _signature(report: dict, out: Path) -> str:
    sigs = report.get("signatures") or []
    keys = sorted({k for s in sigs for k in s}, key=lambda k: (k != "model", k))
    parts = ["<h2 id='signature'>Run signature and commands</h2>"]
    if report.get("mixed"):
        parts.append("<p><b>Mixed folder:</b> samples of more than one model or sampling.</p>")
    if sigs:
        parts.append(_table(tuple(keys), [tuple(s.get(k) for k in keys) for s in sigs]))
    gen = report.get("generation") or {}
    if gen:
        t = gen.get("totals") or {}
        parts.append(
            f"<p>Sampling: model <code>{e(str(gen.get('model')))}</code>, n {e(str(gen.get('n')))}"
            f", k_correct {e(str(gen.get('k_correct') or 'off'))}, retry_zero "
            f"{e(str(gen.get('retry_zero') or 'off'))}; planned {t.get('planned', 0):,}, "
            f"written {t.get('written', 0):,}, failed {t.get('failed', 0):,}.</p>"
        )
    ran = commands.latest(out)
    if ran:
        rows = [(c["step"], c.get("runs", 1), c.get("cwd", "")) for c in ran]
        parts.append(
            "<p>The command lines that built this folder, in pipeline order (commands.jsonl; a "
            "launcher line runs the steps after it):</p>"
        )
        for (step, runs, cwd), c in zip(rows, ran, strict=True):
            parts.append(
                f"<p class='muted'>{e(step)}, {runs} run(s), in {e(str(cwd))}:</p>"
                f"<pre>{e(c['command'])}</pre>"
            )
    else:
        parts.append("<p class='muted'>No commands.jsonl in this folder.</p>")
    return "\n".join(parts)


def _merged(row: dict) -> int:
    """Correct samples the last merge kept (rows[].merge); all correct ones before any merge."""
    m = row.get("merge")
    return (
        m["merged"] if isinstance(m, dict) and isinstance(m.get("merged"), int) else row["correct"]
    )


def _acceptance(report: dict) -> str:
    rows = report.get("rows", [])
    bars = [
        (f"{r['source']} / {r['type']}", min(_merged(r), r["correct"]),
         max(0, r["correct"] - _merged(r)), r["graded"] - r["correct"], r["ungraded"],
         r["failures"])
        for r in rows
    ]  # fmt: skip
    table = _table(
        ("source", "version", "problems", "samples", "correct", "merged", "rejected", "ungraded",
         "failed", "accuracy", "zero-correct problems"),
        [(r["source"], r["type"], r["problems"], r["samples"], r["correct"], _merged(r),
          r["graded"] - r["correct"], r["ungraded"], r["failures"],
          _pct(r["correct"], r["graded"]), r["problems_zero_correct"]) for r in rows],
        numeric=9,
    )  # fmt: skip
    return (
        "<h2 id='acceptance'>Acceptance per source and version</h2>"
        f"<figure id='fig-acceptance'>{report_plots.acceptance(bars)}</figure>{table}"
    )


def _distributions(report: dict, data: ReportData) -> str:
    series = {f"{t.source} / {t.type}": t.pass_buckets for t in data.types}
    edges = report.get("token_edges") or []
    hists = [r.get("completion_tokens_hist") or {} for r in report.get("rows", [])]
    acc = [sum(h.get("accepted", [0] * len(edges))[i] for h in hists) for i in range(len(edges))]
    rej = [sum(h.get("rejected", [0] * len(edges))[i] for h in hists) for i in range(len(edges))]
    parts = [
        "<h2 id='pass-rates'>Problem versions by pass rate</h2>",
        f"<figure id='fig-pass-rates'>{report_plots.pass_rates(list(PASS_BUCKETS), series)}</figure>",
        "<h2 id='tokens'>Completion tokens: accepted and rejected samples</h2>",
    ]
    if edges and sum(acc) + sum(rej):
        parts.append(
            f"<figure id='fig-tokens'>{report_plots.token_lengths(edges, acc, rej)}</figure>"
        )
    else:
        parts.append("<p class='muted'>No graded sample with a token count.</p>")
    return "\n".join(parts)


def _reasons(report: dict, data: ReportData, merge: MergeStats | None) -> str:
    total, accepting = Counter(), set()
    for t in data.types:
        total.update(t.reasons)
        accepting |= t.accepting
    bars = [(r, n, r in accepting) for r, n in total.most_common()]
    parts = ["<h2 id='reasons'>Why samples went</h2>", "<h3>The grader's reasons</h3>"]
    if bars:
        parts.append(f"<figure id='fig-reasons'>{report_plots.reasons(bars)}</figure>")
        reasons = [r for r, _, _ in bars]
        parts.append(
            _table(
                ("source", "version", *reasons),
                [(t.source, t.type, *(t.reasons.get(r, 0) for r in reasons)) for t in data.types],
                numeric=len(reasons),
            )
        )
    else:
        parts.append("<p class='muted'>No verdicts yet.</p>")
    groups = drops(report, merge.duplicates if merge is not None else None)
    for group, title, unit in _DROP_GROUPS:
        parts.append(f"<h3 id='drops-{group}'>{title}</h3>")
        counts = groups.get(group)
        if counts is None and group == "judge":
            parts.pop()  # no judge ran: nothing to say
        elif counts is None:
            parts.append(f"<p class='muted'>Not measured in this run (report.json has no "
                         f"{e(group)} counts).</p>")  # fmt: skip
        elif not any(counts.values()):
            measured = ", ".join(f"{k} 0" for k in counts)
            parts.append(f"<p class='muted'>None: no {e(unit)} dropped"
                         + (f" ({e(measured)})" if measured else "") + ".</p>")  # fmt: skip
        else:
            if len(counts) > 1:  # one bar says no more than its table row
                bars = [(r, n, False) for r, n in counts.most_common()]
                figure = report_plots.reasons(bars, unit)
                parts.append(f"<figure id='fig-drops-{group}'>{figure}</figure>")
            parts.append(_table(("reason", unit), list(counts.most_common()), numeric=1))
    return "\n".join(parts)


# Drops beyond the grader, each drawn when report.json (or the merge) has its counts.
_DROP_GROUPS = (
    ("filters", "Filters (correct samples left out of the training data)", "samples"),
    ("merge", "Merge (identical training examples)", "samples"),
    ("judge", "Judge (rule-rejected samples a judge model found equal to the gold)", "samples"),
    ("contamination", "Contamination (problems dropped before any request)", "problems"),
    ("near-duplicates", "Near-duplicate problems", "problems"),
)


def _listings(report: dict, data: ReportData) -> str:
    golds = report.get("suspicious_golds") or []
    parts = ["<h2 id='golds'>Suspicious golds</h2>"]
    if golds:
        parts.append(
            "<p>Graded samples agree on an answer the grader rejected: check the gold.</p>"
            + _table(
                (
                    "source",
                    "version",
                    "problem",
                    "id",
                    "gold",
                    "majority answer",
                    "count",
                    "graded",
                ),
                [
                    (
                        g.get("source"),
                        g.get("type"),
                        g.get("problem_index"),
                        g.get("problem_id"),
                        g.get("gold"),
                        g.get("majority_answer"),
                        g.get("majority_count"),
                        g.get("graded"),
                    )
                    for g in golds[:MAX_ROWS]
                ],
                numeric=2,
            )  # fmt: skip
            + _more(len(golds), MAX_ROWS, "flagged problems")
        )
    else:
        parts.append("<p class='muted'>None flagged.</p>")
    zero = report.get("zero_correct") or []
    parts.append(f"<h3>Problems with zero correct ({len(zero):,})</h3>")
    if zero:
        rows = [(z["source"], z["type"], z["problem_index"], z.get("problem_id"), z["graded"])
                for z in zero[:MAX_ROWS]]  # fmt: skip
        parts.append(_table(("source", "version", "problem", "id", "graded"), rows, 1))
        parts.append(_more(len(zero), MAX_ROWS, "problems"))
    parts.append(f"<h2 id='failures'>Open failures ({data.open_failures:,})</h2>")
    if data.failures:
        rows = [(f.get("source"), f.get("generation_id"), f.get("problem_id"), f.get("error"),
                 f.get("status")) for f in data.failures]  # fmt: skip
        parts.append(_table(("source", "sample", "problem id", "error", "status"), rows))
        parts.append(_more(data.open_failures, len(data.failures), "failures"))
    else:
        parts.append("<p class='muted'>None: every planned request was answered.</p>")
    warnings = report.get("warnings") or []
    if warnings:
        parts.append(f"<h3>Warnings ({len(warnings):,})</h3>")
        parts.append("<pre>" + e("\n".join(warnings[:MAX_ROWS])) + "</pre>")
        parts.append(_more(len(warnings), MAX_ROWS, "warnings"))
    return "\n".join(parts)


def _sample(s: Sample) -> str:
    gid = layout.generation_id(s.source, s.type, s.problem_index, s.sample_index)
    pid = f" · id {e(s.problem_id)}" if s.problem_id is not None else ""
    reasoning = (
        f"<details><summary>reasoning ({len(s.reasoning):,} characters)</summary>"
        f"<pre>{e(s.reasoning)}</pre></details>"
        if s.reasoning
        else "<p class='muted'>no reasoning</p>"
    )
    return (
        f'<article class="sample" data-source="{e(s.source)}" data-type="{e(s.type)}" '
        f'data-reason="{e(s.reason)}" data-pid="{e(s.problem_id or "")}" data-gid="{e(gid)}">'
        f'<h3><span class="tag {"ok" if s.correct else "bad"}">{e(s.reason)}</span> {e(gid)}{pid}'
        f"</h3><p>gold <code class='gold'>{e(str(s.gold))}</code> · extracted "
        f"<code class='extracted'>{e(str(s.extracted))}</code></p>"
        f"<h4>Problem</h4><pre class='problem'>{e(s.problem)}</pre>{reasoning}"
        f"<h4>Answer</h4><pre class='answer'>{e(s.answer)}</pre>"
        f"<p class='muted'>{e(s.path)}</p></article>"
    )


def _browser(data: ReportData) -> str:
    samples = [s for t in data.types for s in t.samples]

    def select(key: str, label: str, values) -> str:
        opts = "".join(f'<option value="{e(v)}">{e(v)}</option>' for v in sorted(set(values)))
        return f'<label>{label} <select id="f-{key}"><option value="">all</option>{opts}</select></label>'

    controls = (
        '<div class="controls">'
        + select("source", "source", (s.source for s in samples))
        + select("type", "version", (s.type for s in samples))
        + select("reason", "reason", (s.reason for s in samples))
        + '<label>problem id <input id="f-id" type="search" placeholder="e.g. sample-001"></label>'
        + '<span id="f-count" class="muted"></span></div>'
    )
    return (
        "<h2 id='browser'>Sample browser</h2>"
        f"<p class='muted'>Up to {data.browse_samples} samples per source, version and reason "
        "(--browse_samples), the same ones on every run; long texts are clipped.</p>"
        + controls
        + "\n".join(_sample(s) for s in samples)
    )


def render_html(report: dict, data: ReportData, out: Path, merge: MergeStats | None = None) -> str:
    created = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(report.get("created") or 0))
    nav = " ".join(
        f"<a href='#{a}'>{t}</a>"
        for a, t in (("acceptance", "acceptance"), ("pass-rates", "pass rates"),
                     ("tokens", "tokens"), ("reasons", "why samples went"), ("golds", "golds"),
                     ("failures", "failures"), ("signature", "signature and commands"),
                     ("browser", "samples"))
    )  # fmt: skip
    body = [
        f"<h1>SFT data report</h1><p class='muted'>{e(str(report.get('output_dir', out)))}, "
        f"{created}</p><nav>{nav}</nav>",
        _summary(report),
        _acceptance(report),
        _distributions(report, data),
        _reasons(report, data, merge),
        _listings(report, data),
        _signature(report, out),
        _browser(data),
    ]
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>SFT report: {e(out.name)}</title><style>{_CSS}</style></head><body>\n"
        + "\n".join(body)
        + f"\n<script>{_JS}</script></body></html>\n"
    )


def write_report_html(
    output_dir: str | os.PathLike,
    report: dict,
    browse_samples: int = 20,
    *,
    data: ReportData | None = None,
    merge: MergeStats | None = None,
) -> Path:
    """Write `<output>/report.html` atomically for `report` (build_report's dict) and return it;
    `data` is collect()'s when the caller has it, `merge` the merge's figures (duplicates)."""
    out = Path(output_dir)
    data = data if data is not None else collect(out, report, browse_samples)
    path = layout.report_html_file(out)
    atomic_write_text(path, render_html(report, data, out, merge))
    return path
