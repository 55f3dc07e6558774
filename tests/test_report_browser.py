"""report.html in a real browser (opt-in: `pytest -m browser`; needs Debian's `chromium`):
a demo run's page opens offline with no console error, its plots are in the rendered DOM, and
the sample browser's filters work (driven by the page's #reason=...&id=... link form)."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")

pytestmark = [
    pytest.mark.browser,
    pytest.mark.e2e,
    pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed"),
]


def chromium(url: str, *extra: str) -> subprocess.CompletedProcess:
    """Headless Chromium on `url`, with the page's console messages logged to stderr; network
    off (a page that needs it shows errors), no sandbox (CI runs as root)."""
    cmd = [
        CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--enable-logging=stderr",
        "--v=0", "--proxy-server=127.0.0.1:9", "--virtual-time-budget=5000", *extra, url,
    ]  # fmt: skip
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120)


@pytest.fixture(scope="module")
def demo_page(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("browser") / "demo_out"
    env = {**os.environ, "PYTHON": os.environ.get("PYTHON", "python3")}
    res = subprocess.run(
        [str(REPO / "run_sft_pipeline.sh"), "--demo", "--no-tmux", "--output_dir", str(out)],
        capture_output=True, text=True, timeout=300, env=env, cwd=REPO,
    )  # fmt: skip
    assert res.returncode == 0, res.stdout + res.stderr
    assert f"report page (figures, sample browser): {out / 'report.html'}" in res.stdout
    launch = json.loads((out / "commands.jsonl").read_text().splitlines()[0])
    assert launch["step"] == "launch" and "run_sft_pipeline.sh --demo" in launch["command"]
    return out / "report.html"


def console_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if ":CONSOLE" in line]


def test_demo_page_renders_without_console_errors(demo_page):
    res = chromium(demo_page.as_uri(), "--dump-dom")
    assert res.returncode == 0, res.stderr[-2000:]
    assert console_lines(res.stderr) == []
    dom = res.stdout
    for fig in ("fig-acceptance", "fig-pass-rates", "fig-tokens", "fig-reasons"):
        assert re.search(rf"<figure id=\"{fig}\"><svg[^>]*class=\"plot\"", dom), fig
    # The filter script ran: it writes the count into the page.
    total = dom.count('<article class="sample"')
    assert total > 0 and f"{total} of {total} samples shown" in dom


def test_filters_and_find_by_id_in_the_browser(demo_page):
    res = chromium(f"{demo_page.as_uri()}#reason=mismatch&type=multiples", "--dump-dom")
    assert console_lines(res.stderr) == []
    articles = re.findall(r"<article class=\"sample\"([^>]*)>", res.stdout)
    shown = [a for a in articles if " hidden" not in a]
    assert shown and len(shown) < len(articles)
    assert all('data-reason="mismatch"' in a and 'data-type="multiples"' in a for a in shown)
    pid = re.search(r'data-pid="([^"]+)"', shown[0]).group(1)
    res = chromium(f"{demo_page.as_uri()}#id={pid}", "--dump-dom")
    found = [a for a in re.findall(r"<article class=\"sample\"([^>]*)>", res.stdout)]
    assert all(f'data-pid="{pid}"' in a for a in found if " hidden" not in a)
    res = chromium(f"{demo_page.as_uri()}#id=no-such-problem", "--dump-dom")
    assert f"0 of {len(found)} samples shown: none with this id" in res.stdout


def test_screenshot_of_the_demo_page(demo_page, tmp_path):
    shot = tmp_path / "report.png"
    res = chromium(demo_page.as_uri(), "--hide-scrollbars", "--window-size=1200,1600",
                   f"--screenshot={shot}")  # fmt: skip
    assert res.returncode == 0 and console_lines(res.stderr) == []
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 20_000
