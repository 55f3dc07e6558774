"""Repository contracts that CI and new users rely on."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SCRIPTS = ["generate_sft_data.py", "validate_sft_data.py", "validate_watcher.py"]


def quick_start_lines() -> list[str]:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Quick start", 1)[1]
    block = re.search(r"```(?:bash|sh)?\n(.*?)```", section, re.S).group(1)
    return [line for line in block.splitlines() if line.strip() and not line.startswith("#")]


def test_quick_start_is_two_lines_demo_then_tests():
    lines = quick_start_lines()
    assert len(lines) == 2, lines
    assert "--demo" in lines[0]
    assert "check.sh" in lines[1] or "pytest" in lines[1]


def test_ci_runs_exactly_the_readme_test_command():
    ci_lines = (ROOT / ".ci" / "run").read_text(encoding="utf-8").strip().splitlines()
    assert ci_lines[-1] == quick_start_lines()[1]
    assert any("apt-get install -y tmux" in line for line in ci_lines)


@pytest.mark.parametrize("script", SCRIPTS)
def test_script_shape(script):
    """Each entry point: docstring with Usage, parse_args(), main(), two-line __main__ block."""
    path = ROOT / script
    tree = ast.parse(path.read_text(encoding="utf-8"))
    doc = ast.get_docstring(tree)
    assert doc and "Usage:" in doc, f"{script}: module docstring needs a Usage: section"
    names = {n.name for n in tree.body if isinstance(n, ast.FunctionDef)}
    assert {"parse_args", "main"} <= names, f"{script}: needs parse_args() and main()"
    last = tree.body[-1]
    assert isinstance(last, ast.If) and "__main__" in ast.unparse(last.test)
    assert len(last.body) == 1, f"{script}: keep the __main__ block to two lines"


def test_sample_output_dir_is_kept_but_ignored():
    assert (ROOT / "sft_output" / ".gitkeep").exists()
    ignore = (ROOT / ".gitignore").read_text(encoding="utf-8")
    assert "sft_output/*" in ignore and "!sft_output/.gitkeep" in ignore
