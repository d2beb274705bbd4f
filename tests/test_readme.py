"""The README's Python quick start runs as written and its printed claims hold."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

README = Path(__file__).resolve().parent.parent / "README.md"


@pytest.mark.slow
def test_readme_quick_start_runs(tmp_path):
    text = README.read_text()
    section = text[text.index("## Quick start in Python"):]
    snippet = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    assert "fit_translator" in snippet and "save_pretrained" in snippet and "from_pretrained" in snippet
    result = subprocess.run([sys.executable, "-c", snippet], capture_output=True, text=True, cwd=tmp_path,
                            timeout=600)
    assert result.returncode == 0, result.stderr
    method, _, metrics = result.stdout.strip().partition(" ")
    assert method in {"orthogonal", "linear", "affine", "relative"}
    assert "'top1': 1.0" in metrics and (tmp_path / "my-translator" / "model.safetensors").is_file()


def test_readme_commands_are_the_ones_ci_runs():
    text = README.read_text()
    ci = (README.parent / ".ci" / "run").read_text()
    test_command = re.findall(r"```bash\n(.*?)\n```", text, re.S)[1]
    assert test_command.strip() in ci
