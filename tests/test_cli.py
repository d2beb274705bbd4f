"""The command line: data on stdout, messages on stderr, non-zero exit with one line on error."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import torch
from safetensors.torch import save_file

from hubstitch import Translator


def _run(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "hubstitch.cli", *args], capture_output=True, text=True,
                          timeout=300, cwd=cwd)


def test_quickstart_fits_evaluates_saves_and_reloads(tmp_path):
    result = _run("quickstart", "--out", str(tmp_path / "t"), "--format", "json")
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    assert summary["reload_identical"] is True
    assert summary["heldout"]["top1"] > 0.99 and summary["heldout"]["cosine"] > 0.99
    assert Translator.from_pretrained(tmp_path / "t").config.method == summary["method"]


def test_fit_latents_from_npy_and_safetensors(tmp_path, gen):
    x = torch.randn(400, 12, generator=gen)
    y = x @ torch.linalg.qr(torch.randn(12, 12, generator=gen))[0]
    np.save(tmp_path / "x.npy", x.numpy())
    save_file({"latents": y, "other": y[:2].clone()}, str(tmp_path / "y.safetensors"))
    result = _run("fit-latents", str(tmp_path / "x.npy"), f"{tmp_path / 'y.safetensors'}:latents", "--method",
                  "orthogonal", "--out", str(tmp_path / "out"), "--source-id", "org/a", "--target-id", "org/b")
    assert result.returncode == 0, result.stderr
    assert "method: orthogonal" in result.stdout and "top1" in result.stdout
    config = Translator.from_pretrained(tmp_path / "out").config
    assert config.source.model_id == "org/a" and config.metrics["n_heldout"] == 80


def test_errors_exit_non_zero_with_one_line(tmp_path):
    np.save(tmp_path / "x.npy", np.ones((10, 3), dtype=np.int64))
    result = _run("fit-latents", str(tmp_path / "x.npy"), str(tmp_path / "x.npy"), "--out", str(tmp_path / "o"))
    assert result.returncode == 1
    assert result.stdout == ""
    assert result.stderr.count("\n") == 1 and "dtype torch.int64" in result.stderr
    missing = _run("fit-latents", "nope.npy", "nope.npy", "--out", str(tmp_path / "o"))
    assert missing.returncode == 1 and "does not exist" in missing.stderr
