"""Several endpoints in --base_url at scale: least-outstanding-requests balancing with fail-over.

Three stand-in endpoints: two fast ones and one five times slower; one fast one is killed
mid-run. Every sample must be stored exactly once, none recorded as failed, and no endpoint may
ever hold more than its share of the requests in flight (the balancing rule, whatever the
timing: a slow endpoint does not pile up requests).
"""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import pytest

import generate_sft_data as gen
from sftkit.inputs.problems import MULTIPLE, SUBJECTIVE

pytestmark = pytest.mark.e2e  # runs the CLIs, servers or worker processes for real

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "data" / "sample_math.jsonl"
SENT = ROOT / "data" / "sentences_ask_boxed.jsonl"
FAST, SLOW = 0.2, 1.0  # seconds per reply, far above the CPU cost of a request: 5x slower


def kill_when(srv, completions: int, killed: threading.Event, stop: threading.Event) -> None:
    """Stop `srv` (its listening socket and open connections close) once it has answered
    `completions` requests: a server that dies mid-run."""
    while not stop.is_set():
        if srv.stats["completions"] >= completions:
            srv.stop()
            killed.set()
            return
        time.sleep(0.005)


def test_three_endpoints_one_slow_one_killed(tmp_path, capsys, mock_server):
    fast, doomed = mock_server(p_correct=1.0, latency=FAST), mock_server(latency=FAST)
    slow = mock_server(p_correct=1.0, latency=SLOW)
    problems = sum(1 for line in DATA.read_text(encoding="utf-8").splitlines() if line.strip())
    n = 4
    total = problems * 2 * n  # one request per sample (--max_n 1)
    out = tmp_path / "out"
    argv = [
        "--input_file", str(DATA), "--output_dir", str(out), "--sentences", str(SENT),
        "--base_url", f"{fast.base_url},{doomed.base_url},{slow.base_url}",
        "--n", str(n), "--max_n", "1", "--requests_in_flight", "24", "--max_retries", "1",
        "--no_progress", "--no_merge", "--versions", "both",
    ]  # fmt: skip
    killed, stop = threading.Event(), threading.Event()
    killer = threading.Thread(target=kill_when, args=(doomed, total // 6, killed, stop))
    killer.start()
    try:
        rc = gen.main(argv)
    finally:
        stop.set()
        killer.join()
    err = capsys.readouterr().err
    assert rc == 0, err
    assert killed.is_set(), "the endpoint was not killed mid-run"

    # Nothing lost, nothing duplicated: one file per sample, one complete record in each, no
    # failure recorded, and the generator stored each sample once.
    found = {}
    for type_ in (SUBJECTIVE, MULTIPLE):
        for path in (out / "sample_math" / type_).glob("*.jsonl"):
            lines = path.read_text(encoding="utf-8").splitlines()
            assert len(lines) == 1, path
            meta = json.loads(lines[0])["meta"]
            assert meta["generation_id"] == f"sample_math/{type_}/{path.stem}"
            found[(type_, meta["problem_index"], meta["sample_index"])] = path
    want = {(t, p, s) for t in (SUBJECTIVE, MULTIPLE) for p in range(problems) for s in range(n)}
    assert set(found) == want
    assert not (out / "sample_math" / "failures.jsonl").exists()
    state = json.loads((out / ".generation.json").read_text())
    counts = state["by_source_type"]
    assert sum(c["written"] for c in counts.values()) == total
    assert sum(c["failed"] for c in counts.values()) == 0

    # The killed endpoint had served part of the run; the replies the three sent add up.
    a, b, c = (s.stats["completions"] for s in (fast, doomed, slow))
    assert total // 6 <= b < total // 2, (a, b, c)
    # Fewest in flight first: an endpoint is picked only while it holds no more than another live
    # one, so with 24 in flight over (at least) two live endpoints none ever holds more than 12,
    # however slow it is. Round-robin would pile about 17 onto the slow one.
    assert max(s.stats["peak_inflight"] for s in (fast, doomed, slow)) <= 24 // 2, (a, b, c)
    assert a + b + c >= total
