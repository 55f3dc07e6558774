r"""Benchmark validate_watcher.py: verdict lag while samples land at a steady rate, and grading
throughput on a backlog. Prints figures against the targets (issue 6); asserts nothing.

Samples are realistic: the stand-in endpoint's own answer composer (sftkit.demo.mock_model.compose)
writes solutions for the bundled problems, right or wrong, boxed or not, in varied renderings
("\boxed{\dfrac{3}{4}}", "\boxed{③}", "3번", ...), stored as the generator stores them.

Usage:
    python bench/bench_watch.py                                  # 200/s for 15 s, 5000 backlog
    python bench/bench_watch.py --rate 400 --seconds 10 --backlog 10000 --interval 2.0

Targets: lag from a file appearing to its verdict p95 <= interval + 1 s at 200 samples/s;
>= 500 graded samples/s on 2 cores.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from sftkit.common.jsonl import dumps  # noqa: E402
from sftkit.demo.mock_model import AnswerBook, MockConfig, compose  # noqa: E402
from sftkit.output.formats import Conversation, add_answer_meta, render  # noqa: E402

SOURCE = "bench_math"


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--rate", type=float, default=200.0, help="samples written per second")
    p.add_argument("--seconds", type=float, default=15.0, help="length of the live phase")
    p.add_argument("--backlog", type=int, default=5000, help="files graded in the --once phase")
    p.add_argument("--interval", type=float, default=1.0, help="watcher poll interval")
    p.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    p.add_argument("--seed", type=int, default=0)
    return p.parse_args(argv)


def sample_stream(seed: int):
    """Endless (relative path, JSON line) pairs cycling through every problem version."""
    book = AnswerBook.load(REPO / "data", seed=seed)
    cfg = MockConfig(data_dir=str(REPO / "data"), p_correct=0.6, p_no_box=0.05)
    rng = random.Random(seed)
    counts: dict[tuple[int, str], int] = {}
    while True:
        for entry in book.entries:
            v = entry.version
            key = (v.problem.index, v.type)
            s = counts[key] = counts.get(key, -1) + 1
            reply = compose(entry, cfg, rng)
            conv = Conversation(prompt=v.body, content=reply.content, reasoning=reply.reasoning)
            meta = {
                "source": SOURCE,
                "problem_index": v.problem.index,
                "problem_id": v.problem.id,
                "type": v.type,
                "sample_index": s,
                "generation_id": f"{SOURCE}/{v.type}/{v.problem.index}_{s}",
                "model": "bench",
                "finish_reason": "stop",
                "truncated": False,
            }
            record = add_answer_meta(
                render(conv, "messages", "think_tags"), "messages", v.gold, meta
            )
            yield f"{SOURCE}/{v.type}/{v.problem.index}_{s}.jsonl", dumps(record) + "\n"


def write_atomic(out: Path, rel: str, text: str) -> None:
    path = out / rel
    tmp = path.with_name(f".{path.name}.bench.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def watcher(out: Path, interval: float, workers: int, *extra: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, str(REPO / "validate_watcher.py"), "--output_dir", str(out),
         "--interval", str(interval), "--workers", str(workers), *extra],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        cwd=REPO,
    )  # fmt: skip


def verdicts(out: Path) -> dict[str, float]:
    """'<type>/<file>' -> graded_at of its (last) verdict."""
    got = {}
    for log in (out / SOURCE).glob("*_verdicts.jsonl"):
        type_ = log.name[: -len("_verdicts.jsonl")]
        for line in log.read_text(encoding="utf-8").splitlines():
            v = json.loads(line)
            got[f"{type_}/{v['file']}"] = v["graded_at"]
    return got


def pct(values: list[float], q: float) -> float:
    s = sorted(values)
    return s[max(0, math.ceil(q / 100 * len(s)) - 1)]


def live_phase(args, stream, root: Path) -> dict:
    out = root / "live"
    for t in ("subjectives", "multiples"):
        (out / SOURCE / t).mkdir(parents=True)
    proc = watcher(out, args.interval, args.workers)
    # Let it start and warm up before the clock runs: we measure steady state, not start-up.
    # (Its first status file is written after the warm-up and the first scan.)
    while not (out / ".status.json").exists():
        time.sleep(0.05)
    created: dict[str, float] = {}
    total = int(args.rate * args.seconds)
    t0 = time.monotonic()
    for i in range(total):
        due = t0 + i / args.rate
        delay = due - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        rel, text = next(stream)
        write_atomic(out, rel, text)
        created[rel.split("/", 1)[1]] = time.time()
    written_s = time.monotonic() - t0
    (out / ".watcher_stop").touch()
    log, _ = proc.communicate(timeout=600)
    graded = verdicts(out)
    missing = set(created) - set(graded)
    lags = [graded[k] - created[k] for k in created if k in graded]
    return {
        "files": total,
        "write_rate": total / written_s,
        "graded": len(graded),
        "missing": len(missing),
        "lags": lags,
        "rc": proc.returncode,
        "log_tail": log.strip().splitlines()[-6:],
    }


def backlog_phase(args, stream, root: Path) -> dict:
    out = root / "backlog"
    for t in ("subjectives", "multiples"):
        (out / SOURCE / t).mkdir(parents=True)
    for _ in range(args.backlog):
        write_atomic(out, *next(stream))
    t0 = time.time()
    cpu0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    proc = watcher(out, args.interval, args.workers, "--once")
    proc.communicate(timeout=900)
    wall = time.time() - t0
    cpu1 = resource.getrusage(resource.RUSAGE_CHILDREN)  # the watcher and its pool workers
    cpu = (cpu1.ru_utime - cpu0.ru_utime) + (cpu1.ru_stime - cpu0.ru_stime)
    graded = sorted(verdicts(out).values())
    span = graded[-1] - graded[0] if len(graded) > 1 else float("nan")
    return {
        "files": args.backlog,
        "graded": len(graded),
        "span": span,
        "wall": wall,
        "cpu": cpu,
        "rc": proc.returncode,
    }


def main(argv=None) -> int:
    args = parse_args(argv)
    stream = sample_stream(args.seed)
    load = os.getloadavg()[0]
    print(f"bench_watch: {os.cpu_count()} cores, load average {load:.2f}, workers {args.workers}")
    with tempfile.TemporaryDirectory(prefix="bench_watch_") as tmp:
        root = Path(tmp)
        live = live_phase(args, stream, root)
        target_lag = args.interval + 1.0
        lags = live["lags"]
        print(
            f"\nlive: {live['files']} files at {live['write_rate']:.0f}/s (asked {args.rate:g}/s), "
            f"interval {args.interval:g}s -> {live['graded']} graded, {live['missing']} missing, "
            f"watcher exit {live['rc']}"
        )
        if lags:
            p50, p95, p99 = (pct(lags, q) for q in (50, 95, 99))
            verdict = "OK" if p95 <= target_lag else "MISSED"
            print(
                f"  verdict lag p50 {p50:.2f}s  p95 {p95:.2f}s  p99 {p99:.2f}s"
                f"  max {max(lags):.2f}s"
                f"  (target p95 <= {target_lag:.1f}s: {verdict}, ratio {p95 / target_lag:.2f})"
            )
        back = backlog_phase(args, stream, root)
        rate = back["graded"] / back["span"] if back["span"] and back["span"] > 0 else float("nan")
        verdict = "OK" if rate >= 500 else "MISSED"
        print(
            f"\nbacklog: {back['files']} files, --once -> {back['graded']} graded, "
            f"exit {back['rc']}"
        )
        print(
            f"  grading throughput {rate:.0f} samples/s "
            f"(first to last verdict, {back['span']:.2f}s)"
            f"  (target >= 500/s: {verdict}, ratio {rate / 500:.2f})"
        )
        print(
            f"  end to end incl. start-up and warm-up: {back['wall']:.2f}s = "
            f"{back['graded'] / back['wall']:.0f} samples/s"
        )
        # Load-independent: CPU seconds spent per sample (start-up included), and what that
        # means for this machine's cores when nothing else runs.
        per = back["cpu"] / max(1, back["graded"])
        cores = os.cpu_count() or 1
        print(
            f"  CPU {back['cpu']:.2f}s = {per * 1000:.2f} ms/sample -> capacity on {cores} idle "
            f"cores ~{cores / per:.0f} samples/s (target >= 500/s: "
            f"{'OK' if cores / per >= 500 else 'MISSED'})"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
