r"""Cost with what is already stored (issue 15): the watcher, merge, report and the generator's
resume scan on output folders that already hold 0, 100k and 1M graded samples.

For each size it prints, against the targets:
- live watcher: CPU per new sample (main process + grading workers) while `--new` samples land at
  `--rate`/s, compared with the size-0 figure (target <= 1.5x); verdict lag p95 (target <=
  interval + 1 s); watcher peak RSS (target <= 300 MB); start-up time;
- restart after kill -9: time until the watcher's first status with nothing pending (<= 10 s);
- merge (merge_outputs) and report (write_report): time (merge <= 120 s) and peak RSS (<= 300 MB);
- report.html (write_report_html, from the report.json just written): time (<= 60 s), size
  (<= 20 MB), peak RSS and the number of samples in its browser (20 per source x type x reason);
- generator resume: a whole run with every sample already stored (no request is made), after a
  first such run that finds the near duplicates a resume then reuses: time
  (<= 30 s) and peak RSS (<= 300 MB).
It also checks that nothing is lost: every new sample gets exactly one verdict, the restarted
watcher reports every sample graded, the merge writes every correct sample, the resume requests
nothing. A lost or duplicated item makes the exit code 1; a missed speed target does not.

Stored folders are built once, directly on disk in the format the generator and the watcher
write (tests/conftest.py::write_sample): `<root>/store_<N>/scale_math/<type>/<p>_<s>.jsonl`,
`<type>_verdicts.jsonl` with the stamps of each file and `<type>_validated/` copies of the correct
half, n = 16 samples per problem version. The largest is written first; a smaller one is made of
hard links into it (no extra data blocks) with copies of the verdict-log prefixes. They are kept
for the next run (1M samples: about 1.5M files, 6 GB, several minutes to create) and restored to
their built state after each measurement: the new samples and everything a run added are removed,
the verdict logs truncated to their built length.

Usage:
    python bench/bench_scale.py                                   # 0, 100k, 1M in /work/scale-data
    python bench/bench_scale.py --sizes 0 100000 --root /tmp/scale
    python bench/bench_scale.py --sizes 0 64 --new 40 --rate 40 --interval 0.5   # CI-size check
    python bench/bench_scale.py --sizes 0 1000000 --phases watcher   # the live watcher only
    python bench/bench_scale.py --clean                           # remove the stored folders
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from sftkit.common.jsonl import dumps  # noqa: E402
from sftkit.output.figures import sample_figures  # noqa: E402
from sftkit.output.formats import Conversation, add_answer_meta, render  # noqa: E402

SOURCE = "scale_math"
TYPES = ("subjectives", "multiples")
SENTENCES = REPO / "data" / "sentences_ask_boxed.jsonl"
BUILD_VERSION = 2  # bump when the on-disk layout of a built store changes
MB = 1024 * 1024
PHASES = ("resume", "merge", "report", "watcher")  # report: report.json + report.html, no merge
TARGET_CPU_RATIO = 1.5
TARGET_RSS_MB = 300
TARGET_RESTART_S = 10  # issue 23 (was 30 s)
TARGET_MERGE_S = 120
TARGET_RESUME_S = 30
TARGET_PAGE_S = 60  # report.html, written from report.json
TARGET_PAGE_MB = 20
BROWSE_SAMPLES = 20  # the generator's default --browse_samples
# The reasoning of a short real trace: sample files of about 1 KB, like a small model's.
REASONING = "Let x be the unknown; then 2x = x + x, so we simplify step by step. " * 8


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--sizes", type=int, nargs="+", default=[0, 100_000, 1_000_000])
    p.add_argument("--root", default="/work/scale-data", help="where stored folders are kept")
    p.add_argument("--n", type=int, default=16, help="samples per problem version when building")
    p.add_argument("--new", type=int, default=1000, help="new samples in the live phase")
    p.add_argument("--rate", type=float, default=100.0, help="new samples written per second")
    p.add_argument("--interval", type=float, default=2.0, help="watcher --interval")
    p.add_argument("--workers", type=int, default=2, help="watcher grading processes")
    p.add_argument(
        "--phases",
        nargs="+",
        choices=PHASES,
        default=list(PHASES),
        help="what to measure: the generator's resume, merge + report, the live watcher",
    )
    p.add_argument("--clean", action="store_true", help="remove the stored folders and exit")
    a = p.parse_args(argv)
    if any(s < 0 for s in a.sizes) or a.n < 1 or a.new < 1 or a.rate <= 0:
        p.error("sizes >= 0, --n >= 1, --new >= 1, --rate > 0")
    a.sizes = sorted(set(a.sizes))
    return a


# --- building the stored folders -------------------------------------------------------------


def items(size: int, n: int):
    """(type, p, s) of the first `size` samples, problem by problem:
    items(3, 2) -> ("subjectives", 0, 0), ("subjectives", 0, 1), ("multiples", 0, 0)."""
    count = 0
    p = 0
    while count < size:
        for t in TYPES:
            for s in range(n):
                if count == size:
                    return
                yield t, p, s
                count += 1
        p += 1


def problems_of(size: int, n: int) -> int:
    return -(-size // (2 * n))


def record(t: str, p: int, s: int, correct: bool) -> dict:
    """A stored sample as the generator writes it; its answer is right when `correct`."""
    prompt = f"Problem {p} ({t}): what is {p} + 1? Put the final answer in \\boxed{{}}."
    answer = p + 1
    content = f"Adding one gives {answer if correct else answer + 1}, sample {s}. " + (
        f"\\boxed{{{answer if correct else answer + 1}}}"
    )
    meta = {
        "source": SOURCE, "problem_index": p, "problem_id": f"scale-{p}", "type": t,
        "sample_index": s, "generation_id": f"{SOURCE}/{t}/{p}_{s}", "model": "demo-model",
        "prompt": prompt, "finish_reason": "stop", "truncated": False,
        "usage": {"prompt_tokens": 40, "completion_tokens": 200}, "reasoning": REASONING,
        "format": "messages", "reasoning_mode": "think_tags", "created": 1700000000.0,
    }  # fmt: skip
    conv = Conversation(prompt=prompt, content=content, reasoning=REASONING)
    return add_answer_meta(render(conv, "messages", "think_tags"), "messages", answer, meta)


_NEW = os.O_WRONLY | os.O_CREAT | os.O_TRUNC


def write_file(path: str, data: bytes) -> os.stat_result:
    fd = os.open(path, _NEW, 0o644)
    try:
        os.write(fd, data)
        return os.fstat(fd)
    finally:
        os.close(fd)


def verdict_line(name: str, p: int, s: int, correct: bool, answer: int, st, rec: dict) -> str:
    """The watcher's verdict line for a stored sample, with the figures the report counts."""
    return dumps(
        {
            "file": name,
            "problem_index": p,
            "sample_index": s,
            "is_correct": correct,
            "extracted_answer": str(answer if correct else answer + 1),
            "ground_truth": answer,
            "reason": "match_exact" if correct else "mismatch",
            "graded_at": 1700000000.0,
            "mtime_ns": st.st_mtime_ns,
            "size": st.st_size,
            **sample_figures(rec),
        }  # fmt: skip
    )


def build_store(store: Path, size: int, n: int, larger: Path | None) -> None:
    """Write (or hard-link from `larger`, a built store of more samples) a graded store."""
    src = store / SOURCE
    for t in TYPES:
        (src / t).mkdir(parents=True, exist_ok=True)
        (src / f"{t}_validated").mkdir(exist_ok=True)
    logs = {t: open(src / f"{t}_verdicts.jsonl", "w", encoding="utf-8") for t in TYPES}
    big_logs = (
        {t: open(larger / SOURCE / f"{t}_verdicts.jsonl", encoding="utf-8") for t in TYPES}
        if larger
        else {}
    )
    started = time.monotonic()
    try:
        for i, (t, p, s) in enumerate(items(size, n)):
            name = f"{p}_{s}.jsonl"
            correct = (p + s) % 2 == 0
            if larger:
                os.link(larger / SOURCE / t / name, src / t / name)
                if correct:
                    os.link(
                        larger / SOURCE / f"{t}_validated" / name, src / f"{t}_validated" / name
                    )
                logs[t].write(big_logs[t].readline())
            else:
                rec = record(t, p, s, correct)
                st = write_file(str(src / t / name), (dumps(rec) + "\n").encode("utf-8"))
                line = verdict_line(name, p, s, correct, p + 1, st, rec)
                if correct:
                    rec["meta"] = {**rec["meta"], "verdict": "match_exact"}
                    rec["meta"]["extracted_answer"] = str(p + 1)
                    copy = (dumps(rec) + "\n").encode("utf-8")
                    write_file(str(src / f"{t}_validated" / name), copy)
                logs[t].write(line + "\n")
            if i and i % 100_000 == 0:
                print(f"  built {i:,} of {size:,} ({time.monotonic() - started:.0f} s)", flush=True)
    finally:
        for fh in (*logs.values(), *big_logs.values()):
            fh.close()


def manifest_path(root: Path, size: int) -> Path:
    return root / f"store_{size}.json"


def ensure_store(root: Path, size: int, n: int, signature: Path) -> tuple[Path, dict]:
    """The built store of `size` samples and its manifest (what restore() returns it to)."""
    store = root / f"store_{size}"
    mpath = manifest_path(root, size)
    if mpath.exists():
        manifest = json.loads(mpath.read_text())
        if manifest.get("version") == BUILD_VERSION and manifest.get("n") == n:
            return store, manifest
    shutil.rmtree(store, ignore_errors=True)
    larger = None
    for m in sorted(root.glob("store_*.json")):
        other = json.loads(m.read_text())
        if other.get("version") == BUILD_VERSION and other.get("n") == n and other["size"] > size:
            if larger is None or other["size"] < larger[1]:
                larger = (root / f"store_{other['size']}", other["size"])
    how = f"hard links into {larger[0]}" if larger else "new files"
    print(f"building {store} ({size:,} samples, {how}) ...", flush=True)
    t0 = time.monotonic()
    store.mkdir(parents=True)
    build_store(store, size, n, larger[0] if larger else None)
    shutil.copy(signature, store / "run_signature.json")
    problems = problems_of(size, n)
    problem_file = root / f"problems_{size}" / f"{SOURCE}.jsonl"
    problem_file.parent.mkdir(exist_ok=True)
    with open(problem_file, "w", encoding="utf-8") as fh:
        for p in range(max(1, problems)):
            line = {"id": f"scale-{p}", "name": f"scale {p}", "problem": f"What is {p} + 1?"}
            fh.write(dumps({**line, "answer": p + 1, "score": 2, "review": ""}) + "\n")
    manifest = {
        "version": BUILD_VERSION,
        "size": size,
        "n": n,
        "problems": problems,
        "correct": sum((p + s) % 2 == 0 for _, p, s in items(size, n)),
        "logs": {t: (store / SOURCE / f"{t}_verdicts.jsonl").stat().st_size for t in TYPES},
        "top": sorted(os.listdir(store)),
        "source": sorted(os.listdir(store / SOURCE)),
    }
    mpath.write_text(json.dumps(manifest) + "\n")
    print(f"  built in {time.monotonic() - t0:.0f} s", flush=True)
    return store, manifest


def restore(store: Path, manifest: dict) -> None:
    """Back to the built state: remove what a run added, truncate the verdict logs."""
    src = store / SOURCE
    for where, keep in ((store, manifest["top"]), (src, manifest["source"])):
        for name in os.listdir(where):
            if name not in keep:
                path = where / name
                if path.is_dir() and not path.is_symlink():
                    shutil.rmtree(path)
                else:
                    path.unlink()
    for t in TYPES:
        os.truncate(src / f"{t}_verdicts.jsonl", manifest["logs"][t])
        for folder in (src / t, src / f"{t}_validated"):
            with os.scandir(folder) as it:
                for entry in it:
                    p = entry.name.split("_", 1)[0]
                    if (
                        entry.name.startswith(".")
                        or not p.isdigit()
                        or int(p) >= manifest["problems"]
                    ):
                        os.unlink(entry.path)


# --- measuring processes ---------------------------------------------------------------------

TICK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """utime + stime of a live process (0 once it is gone)."""
    try:
        with open(f"/proc/{pid}/stat") as fh:
            fields = fh.read().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / TICK


def children(pid: int) -> list[int]:
    found = []
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return found
    for tid in tasks:
        try:
            with open(f"/proc/{pid}/task/{tid}/children") as fh:
                found += [int(c) for c in fh.read().split()]
        except OSError:
            continue
    return found


def tree_cpu(pid: int) -> tuple[float, dict[int, float]]:
    """(main process CPU, {child pid: CPU}) in seconds."""
    return cpu_seconds(pid), {c: cpu_seconds(c) for c in children(pid)}


def peak_rss_mb(pid: int) -> float:
    try:
        with open(f"/proc/{pid}/status") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return float("nan")


def run_measured(cmd: list[str], timeout: float = 3600) -> dict:
    """Run a command to the end; its wall time, peak RSS (wait4) and output."""
    t0 = time.monotonic()
    with tempfile.TemporaryFile() as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, cwd=REPO)
        deadline = t0 + timeout
        while True:
            pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                break
            if time.monotonic() > deadline:
                proc.kill()
                pid, status, usage = os.wait4(proc.pid, 0)
                break
            time.sleep(0.05)
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        text = out.read().decode("utf-8", "replace")
    return {
        "wall": time.monotonic() - t0,
        "rss_mb": usage.ru_maxrss / 1024,
        "cpu": usage.ru_utime + usage.ru_stime,
        "rc": proc.returncode,
        "out": text,
    }


def tail_lines(path: Path, pos: int) -> tuple[list[dict], int]:
    """Complete JSON lines appended to `path` since byte `pos`, and the new position."""
    try:
        with open(path, "rb") as fh:
            fh.seek(pos)
            chunk = fh.read()
    except FileNotFoundError:
        return [], pos
    end = chunk.rfind(b"\n") + 1
    return [json.loads(x) for x in chunk[:end].splitlines() if x.strip()], pos + end


def read_status(store: Path) -> dict | None:
    try:
        return json.loads((store / ".status.json").read_text())
    except (OSError, ValueError):
        return None


# --- phases ----------------------------------------------------------------------------------


def watcher_cmd(store: Path, args) -> list[str]:
    return [
        sys.executable, str(REPO / "validate_watcher.py"), "--output_dir", str(store),
        "--interval", str(args.interval), "--workers", str(args.workers),
    ]  # fmt: skip


def start_watcher(store: Path, args, log) -> subprocess.Popen:
    # A session of its own, so kill -9 reaches the watcher and its grading workers, nothing else.
    return subprocess.Popen(
        watcher_cmd(store, args), stdout=log, stderr=subprocess.STDOUT, cwd=REPO,
        start_new_session=True,
    )  # fmt: skip


def wait_ready(store: Path, proc: subprocess.Popen, since: float, timeout: float) -> float | None:
    """Seconds until the watcher's first status written after `since` with nothing pending."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and proc.poll() is None:
        status = read_status(store)
        if status and status["updated_at"] >= since and status["pending"] == 0:
            return time.time() - since
        time.sleep(0.05)
    return None


def live_phase(store: Path, manifest: dict, args, log) -> dict:
    """New samples land at --rate/s while the watcher runs; then kill -9 and a restart."""
    src = store / SOURCE
    positions = {t: (src / f"{t}_verdicts.jsonl").stat().st_size for t in TYPES}
    (store / ".status.json").unlink(missing_ok=True)
    started = time.time()
    proc = start_watcher(store, args, log)
    result: dict = {"lost": 0, "duplicated": 0}
    try:
        result["startup"] = wait_ready(store, proc, started, 600)
        cpu0 = tree_cpu(proc.pid)
        created: dict[tuple[str, str], float] = {}
        first = manifest["problems"] + 1  # beyond every stored problem: restore() removes them
        t0 = time.monotonic()
        for i in range(args.new):
            due = t0 + i / args.rate
            if (delay := due - time.monotonic()) > 0:
                time.sleep(delay)
            t, p, s = TYPES[i % 2], first + i // 32, (i // 2) % 16
            name = f"{p}_{s}.jsonl"
            tmp = src / t / f".{name}.bench.tmp"
            write_file(str(tmp), (dumps(record(t, p, s, i % 3 != 0)) + "\n").encode("utf-8"))
            os.replace(tmp, src / t / name)
            created[(t, name)] = time.time()
        graded: dict[tuple[str, str], list[float]] = {}
        deadline = time.monotonic() + 120 + args.new / 10
        while time.monotonic() < deadline:
            for t in TYPES:
                lines, positions[t] = tail_lines(src / f"{t}_verdicts.jsonl", positions[t])
                for v in lines:
                    graded.setdefault((t, v["file"]), []).append(v["graded_at"])
            if all(k in graded for k in created):
                break
            time.sleep(0.05)
        cpu1 = tree_cpu(proc.pid)
        result["rss_mb"] = peak_rss_mb(proc.pid)
        result["workers_rss_mb"] = sum(peak_rss_mb(c) for c in cpu1[1])
    finally:
        os.killpg(proc.pid, signal.SIGKILL)  # the session of the watcher we started
        proc.wait()
    main_cpu = cpu1[0] - cpu0[0]
    worker_cpu = sum(c - cpu0[1].get(pid, 0.0) for pid, c in cpu1[1].items())
    lags = sorted(graded[k][0] - created[k] for k in created if k in graded)
    result["lost"] = sum(k not in graded for k in created)
    result["duplicated"] = sum(len(v) > 1 for k, v in graded.items() if k in created)
    result["main_ms"] = 1000 * main_cpu / args.new
    result["workers_ms"] = 1000 * worker_cpu / args.new
    result["cpu_ms"] = result["main_ms"] + result["workers_ms"]
    result["lag_p95"] = lags[max(0, -(-95 * len(lags) // 100) - 1)] if lags else float("nan")

    # Restart after kill -9: ready when its first status says every stored sample is graded.
    (store / ".status.json").unlink(missing_ok=True)
    started = time.time()
    proc = start_watcher(store, args, log)
    try:
        result["restart"] = wait_ready(store, proc, started, 600)
        status = read_status(store) or {}
        result["restart_graded"] = status.get("graded")
        result["restart_rss_mb"] = peak_rss_mb(proc.pid)
        (store / ".watcher_stop").touch()
        result["restart_rc"] = proc.wait(timeout=900)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    status = read_status(store) or {}
    result["final_graded"] = status.get("graded")
    result["expected_graded"] = manifest["size"] + args.new
    return result


def merge_phase(store: Path, manifest: dict, merge: bool = True) -> dict:
    """merge_outputs (unless `merge` is False: --phases report), then report.json, then
    report.html, each in its own measured process."""
    code = (
        f"import sys; sys.path.insert(0, {str(REPO)!r}); from sftkit.output.merge import merge_outputs; "
        f"s = merge_outputs({str(store)!r}, 'messages', 'think_tags'); print('WRITTEN', s.written)"
    )
    merge = run_measured([sys.executable, "-c", code]) if merge else None
    try:  # the report moves to its own module in issue 14
        import sftkit.output.report  # noqa: F401

        module = "sftkit.output.report"
    except ImportError:
        module = "sftkit.output.merge"
    code = (
        f"import sys; sys.path.insert(0, {str(REPO)!r}); from {module} import write_report; "
        f"r = write_report({str(store)!r}); print('SAMPLES', r['totals']['samples'], "
        "'CORRECT', r['totals']['correct'])"
    )
    report = run_measured([sys.executable, "-c", code])
    written = _figure(merge["out"], "WRITTEN") if merge else manifest["correct"]
    samples, correct = _figure(report["out"], "SAMPLES"), _figure(report["out"], "CORRECT")
    ok = (written, samples, correct) == (manifest["correct"], manifest["size"], manifest["correct"])
    page = page_phase(store)
    # The browser shows min(20, group) samples of each source x type x reason.
    groups: dict[tuple[str, bool], int] = {}
    for t, p, s in items(manifest["size"], manifest["n"]):
        key = (t, (p + s) % 2 == 0)  # build_store's correct samples: match_exact, else mismatch
        groups[key] = groups.get(key, 0) + 1
    page["expected_samples"] = sum(min(BROWSE_SAMPLES, c) for c in groups.values())
    page["ok"] = page["rc"] == 0 and page["samples"] == page["expected_samples"]
    ok = ok and (merge or {"rc": 0})["rc"] == report["rc"] == 0
    return {"merge": merge, "report": report, "page": page, "ok": ok}


def page_phase(store: Path) -> dict:
    """report.html from the report.json just written (the merge's last step): time, peak RSS,
    size and the number of samples in its browser."""
    code = (
        f"import sys, json, os; sys.path.insert(0, {str(REPO)!r}); "
        "from sftkit.output import layout; from sftkit.output.report_html import write_report_html; "
        f"s = {str(store)!r}; r = json.loads(layout.report_file(s).read_text(encoding='utf-8')); "
        f"p = write_report_html(s, r, {BROWSE_SAMPLES}); t = p.read_text(encoding='utf-8'); "
        "print('BYTES', os.path.getsize(p), 'ARTICLES', t.count('<article '), 'FIGURES', "
        "t.count('<figure id='))"
    )
    page = run_measured([sys.executable, "-c", code])
    page["bytes"] = _figure(page["out"], "BYTES") or 0
    page["samples"] = _figure(page["out"], "ARTICLES")
    page["figures"] = _figure(page["out"], "FIGURES")
    return page


def _figure(text: str, word: str) -> int | None:
    parts = text.split()
    try:
        return int(parts[parts.index(word) + 1])
    except (ValueError, IndexError):
        return None


def generator_cmd(problem_file: Path, out: Path, url: str, n: int) -> list[str]:
    return [
        sys.executable,
        str(REPO / "generate_sft_data.py"),
        "--input_file",
        str(problem_file),
        "--output_dir",
        str(out),
        "--base_url",
        url,
        "--n",
        str(n),
        "--sentences",
        str(SENTENCES),
        "--no_progress",
        "--no_merge",
        "--worker",
        "8",
        "--versions",
        "both",
    ]  # fmt: skip  (both: a store holds both versions of every problem)


def resume_phase(root: Path, store: Path, size: int, n: int, srv) -> dict:
    """The generator twice on a folder where every sample is stored: the first run in it finds
    the input's near duplicates (a built store never had a generator run), the second is a
    resume as users see it, reusing them. Both must request nothing."""
    runs = []
    for _ in range(2):
        before = srv.stats["requests"]
        res = run_measured(
            generator_cmd(root / f"problems_{size}" / f"{SOURCE}.jsonl", store, srv.base_url, n)
        )
        res["requests"] = srv.stats["requests"] - before
        runs.append(res)
    return {**runs[1], "first": runs[0]}


def signature_probe(root: Path, n: int, srv) -> Path:
    """run_signature.json of a real generator run with the bench's settings (one tiny problem).
    Probed on every run, not kept: the signature follows the code (its prompts, for one)."""
    path = root / "run_signature.json"
    probe = Path(tempfile.mkdtemp(prefix="probe_", dir=root))
    problem_file = probe / f"{SOURCE}.jsonl"
    problem_file.write_text(dumps({"id": "p", "problem": "What is 1 + 1?", "answer": 2}) + "\n")
    res = run_measured(generator_cmd(problem_file, probe / "out", srv.base_url, n))
    if res["rc"] != 0:
        raise SystemExit(f"signature probe failed:\n{res['out']}")
    shutil.copy(probe / "out" / "run_signature.json", path)
    shutil.rmtree(probe)
    return path


# --- report ----------------------------------------------------------------------------------


@dataclass
class Check:
    ok: bool
    text: str


def verdict(value: float | None, target: float, ratio: bool = True) -> str:
    """ "OK, ratio 0.40" for 1.2 against a target of 3 (at most)."""
    if value is None or value != value:
        return "n/a"
    ok = "OK" if value <= target else "MISSED"
    return f"{ok}, ratio {value / target:.2f}" if ratio else ok


def print_size(
    size: int, live: dict, merged: dict | None, resume: dict | None, args, base
) -> list[Check]:
    checks = []
    target_lag = args.interval + 1.0
    print(f"\n== {size:,} stored samples")
    if resume is None:
        print("  generator resume: n/a (nothing stored, or not measured)")
    else:
        first = resume["first"]
        print(
            f"  generator, first run in the folder (finds near duplicates): {first['wall']:.1f} s,"
            f" peak RSS {first['rss_mb']:.0f} MB, {first['requests']} requests, exit {first['rc']}"
        )
        print(
            f"  generator resume: {resume['wall']:.1f} s, peak RSS {resume['rss_mb']:.0f} MB, "
            f"{resume['requests']} requests, exit {resume['rc']}  (target <= {TARGET_RESUME_S} s: "
            f"{verdict(resume['wall'], TARGET_RESUME_S)}; RSS <= {TARGET_RSS_MB} MB: "
            f"{verdict(resume['rss_mb'], TARGET_RSS_MB)})"
        )
        checks.append(
            Check(
                resume["rc"] == first["rc"] == 0 and resume["requests"] == first["requests"] == 0,
                "resume requested nothing",
            )
        )
    if merged is not None:
        m, r = merged["merge"], merged["report"]
        print(
            "  merge: not measured (--phases report)"
            if m is None
            else f"  merge: {m['wall']:.1f} s, peak RSS {m['rss_mb']:.0f} MB  (target <= {TARGET_MERGE_S} "
            f"s: {verdict(m['wall'], TARGET_MERGE_S)}; RSS <= {TARGET_RSS_MB} MB: "
            f"{verdict(m['rss_mb'], TARGET_RSS_MB)})"
        )
        print(
            f"  report.json: {r['wall']:.1f} s, peak RSS {r['rss_mb']:.0f} MB  (RSS <= "
            f"{TARGET_RSS_MB} MB: {verdict(r['rss_mb'], TARGET_RSS_MB)})"
        )
        checks.append(Check(merged["ok"], "merge and report count every stored sample"))
        pg = merged["page"]
        print(
            f"  report.html: {pg['wall']:.1f} s, {pg['bytes'] / MB:.2f} MB, peak RSS "
            f"{pg['rss_mb']:.0f} MB, {pg['figures']} figures, {pg['samples']} samples in the "
            f"browser  (target <= {TARGET_PAGE_S} s: {verdict(pg['wall'], TARGET_PAGE_S)}; "
            f"<= {TARGET_PAGE_MB} MB: {verdict(pg['bytes'] / MB, TARGET_PAGE_MB)})"
        )
        checks.append(
            Check(pg["ok"], f"report.html browses {pg['expected_samples']} samples, exit 0")
        )
    if live is None:
        return checks
    ratio = live["cpu_ms"] / base if base else None
    print(
        f"  live watcher: {args.new} new at {args.rate:g}/s: CPU {live['cpu_ms']:.2f} ms/sample "
        f"(main {live['main_ms']:.2f} + grading {live['workers_ms']:.2f})"
        + (
            f", {ratio:.2f}x the empty folder (target <= {TARGET_CPU_RATIO}x: "
            f"{verdict(ratio, TARGET_CPU_RATIO, ratio=False)})"
            if ratio is not None
            else ""
        )
    )
    print(
        f"  live watcher: lag p95 {live['lag_p95']:.2f} s (target <= {target_lag:.1f} s: "
        f"{verdict(live['lag_p95'], target_lag)}); peak RSS {live['rss_mb']:.0f} MB (target <= "
        f"{TARGET_RSS_MB} MB: {verdict(live['rss_mb'], TARGET_RSS_MB)}; grading workers "
        f"{live['workers_rss_mb']:.0f} MB); ready {_s(live['startup'])} after start"
    )
    print(
        f"  restart after kill -9: ready in {_s(live['restart'])} (target <= {TARGET_RESTART_S} s:"
        f" {verdict(live['restart'], TARGET_RESTART_S)}), peak RSS "
        f"{live['restart_rss_mb']:.0f} MB, {live['restart_graded']} graded; exit "
        f"{live['restart_rc']}"
    )
    print(
        f"  nothing lost: {live['lost']} new samples without a verdict, {live['duplicated']} "
        f"graded twice; after the restart {live['final_graded']} of {live['expected_graded']} "
        f"graded"
    )
    checks.append(
        Check(live["lost"] == 0 and live["duplicated"] == 0, "every new sample graded once")
    )
    checks.append(
        Check(
            live["final_graded"] == live["expected_graded"] and live["restart_rc"] == 0,
            "the restarted watcher counts every sample",
        )
    )
    return checks


def _s(value: float | None) -> str:
    return "never" if value is None else f"{value:.1f} s"


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    root = Path(args.root)
    if args.clean:
        shutil.rmtree(root, ignore_errors=True)
        return 0
    root.mkdir(parents=True, exist_ok=True)
    from sftkit.demo.mock_server import MockConfig, MockServer

    load = os.getloadavg()[0]
    print(
        f"bench_scale: {os.cpu_count()} cores, load average {load:.2f}; watcher --interval "
        f"{args.interval:g} --workers {args.workers}; {args.new} new samples at {args.rate:g}/s"
    )
    checks: list[Check] = []
    base = None
    with MockServer(MockConfig(data_dir=str(REPO / "data"), p_correct=1.0)) as srv:
        signature = signature_probe(root, args.n, srv)
        # Largest first, so the smaller stores can be hard links into it.
        stores = {
            s: ensure_store(root, s, args.n, signature) for s in sorted(args.sizes, reverse=True)
        }
        for size in args.sizes:
            store, manifest = stores[size]
            restore(store, manifest)
            shutil.copy(signature, store / "run_signature.json")  # this code's, not the build's
            with open(root / f"watcher_{size}.log", "w") as log:
                phases = args.phases
                run_resume = size and "resume" in phases  # nothing to resume in an empty folder
                resume = resume_phase(root, store, size, args.n, srv) if run_resume else None
                merged = (
                    merge_phase(store, manifest, merge="merge" in phases)
                    if {"merge", "report"} & set(phases)
                    else None
                )
                live = live_phase(store, manifest, args, log) if "watcher" in phases else None
            restore(store, manifest)
            if size == 0 and live:
                base = live["cpu_ms"]
            checks += print_size(size, live, merged, resume, args, base if size else None)
    failed = [c.text for c in checks if not c.ok]
    print(f"\ncorrectness: {len(checks) - len(failed)} of {len(checks)} checks passed")
    for text in failed:
        print(f"  FAILED: {text}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
