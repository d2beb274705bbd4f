"""The command line: data on stdout, messages on stderr, non-zero exit with one line on error."""

from __future__ import annotations

import json
import re
import subprocess
import sys

import numpy as np
import pytest
import torch
from helpers import one_error_line
from safetensors.torch import save_file

from hubstitch import Translator


def _run(*args, cwd=None):
    # a guard against a hang, not a speed test: a loaded 2-core machine takes many times the 29 s of an idle one
    return subprocess.run([sys.executable, "-m", "hubstitch.cli", *args], capture_output=True, text=True,
                          timeout=1800, cwd=cwd)


@pytest.mark.slow
def test_quickstart_fits_evaluates_saves_and_reloads(tmp_path):
    result = _run("quickstart", "--synthetic", "--out", str(tmp_path / "t"), "--format", "json")
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


def test_fit_latents_with_unpaired_pools_records_the_bootstrap(tmp_path, gen):
    centers = 4 * torch.randn(10, 12, generator=gen)
    x = centers[torch.randint(10, (500,), generator=gen)] + torch.randn(500, 12, generator=gen)
    y = x @ torch.linalg.qr(torch.randn(12, 12, generator=gen))[0]
    np.save(tmp_path / "seeds_x.npy", x[:10].numpy())
    np.save(tmp_path / "seeds_y.npy", y[:10].numpy())
    np.save(tmp_path / "pool_x.npy", x[10:].numpy())
    np.save(tmp_path / "pool_y.npy", y[10:][torch.randperm(490, generator=gen)].numpy())
    result = _run("fit-latents", str(tmp_path / "seeds_x.npy"), str(tmp_path / "seeds_y.npy"), "--method",
                  "orthogonal", "--holdout", "0", "--unpaired-source", str(tmp_path / "pool_x.npy"),
                  "--unpaired-target", str(tmp_path / "pool_y.npy"), "--out", str(tmp_path / "out"))
    assert result.returncode == 0, result.stderr
    config = Translator.from_pretrained(tmp_path / "out").config
    assert config.pairing["mode"] == "bootstrap" and config.pairing["pseudo_anchors"] > 400
    assert config.n_anchors == 10 + config.pairing["pseudo_anchors"]
    one = _run("fit-latents", str(tmp_path / "seeds_x.npy"), str(tmp_path / "seeds_y.npy"), "--unpaired-source",
               str(tmp_path / "pool_x.npy"), "--out", str(tmp_path / "o2"))
    assert one.returncode == 1 and "--unpaired-source and --unpaired-target go together" in one.stderr


def test_errors_exit_non_zero_with_one_line(tmp_path):
    np.save(tmp_path / "x.npy", np.ones((10, 3), dtype=np.int64))
    result = _run("fit-latents", str(tmp_path / "x.npy"), str(tmp_path / "x.npy"), "--out", str(tmp_path / "o"))
    assert result.returncode == 1
    assert result.stdout == ""
    assert one_error_line(result.stderr) and "dtype torch.int64" in result.stderr
    missing = _run("fit-latents", "nope.npy", "nope.npy", "--out", str(tmp_path / "o"))
    assert missing.returncode == 1 and "does not exist" in missing.stderr


@pytest.mark.slow
def test_quickstart_on_the_shelf_stitches_images_to_a_text_head_zero_shot(tmp_path, shelf_cache, shelf_data):
    import os

    cache = tmp_path / "hubstitch-cache"
    cache.mkdir()
    (cache / "datasets").symlink_to(shelf_data["fashion_mnist"].parent, target_is_directory=True)
    env = {**os.environ, "HF_HUB_CACHE": str(shelf_cache), "HUBSTITCH_CACHE": str(cache), "HF_HUB_OFFLINE": "1"}
    result = subprocess.run([sys.executable, "-m", "hubstitch.cli", "quickstart", "--out", str(tmp_path / "pipe"),
                             "--anchors", "300", "--test-images", "100"], capture_output=True, text=True,
                            timeout=900, env=env)
    assert result.returncode == 0, result.stderr
    accuracy = float(re.search(r"zero-shot accuracy on 100 Fashion-MNIST test images: ([0-9.]+)", result.stdout)[1])
    assert accuracy > 0.5, result.stdout  # chance is 0.1; the head never saw an image or a caption
    assert len(re.findall(r"test image \d: true ", result.stdout)) == 5
    manifest = json.loads((tmp_path / "pipe" / "config.json").read_text())
    assert manifest["shape"] == "translated" and abs(manifest["metrics"]["accuracy"] - accuracy) < 1e-3
    assert [s["model_id"] for s in manifest["stages"] if s.get("model_id")] == ["hubstitch/mobilenet_v2-torchvision"]
