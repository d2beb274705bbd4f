"""``hubstitch gate``: a translator evaluated on a user's held-out pairs; exit 1 below the threshold."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
import torch

import hubstitch
from hubstitch import Encoder

WORDS = ["hello", "world", "the", "cat", "dog", "news", "sport", "money"]
TEXTS = sorted({" ".join(WORDS[(i // 8 ** j) % 8] for j in range(3)) for i in range(0, 512, 7)})[:60]  # distinct


def _gate(*args, cache):
    env = {**os.environ, "HUBSTITCH_CACHE": str(cache), "HF_HUB_DISABLE_PROGRESS_BARS": "1"}
    return subprocess.run([sys.executable, "-m", "hubstitch.cli", "gate", *map(str, args)], capture_output=True,
                          text=True, timeout=300, env=env)


@pytest.mark.slow
def test_gate_passes_a_good_translator_and_fails_a_broken_one(tiny, tmp_path):
    source, target = Encoder.from_pretrained(tiny["bert"]), Encoder.from_pretrained(tiny["bert-2"])
    xs, xt = source.encode(TEXTS, progress=False), target.encode(TEXTS, progress=False)
    good = hubstitch.fit_translator(xs, xt, method="linear", alpha=0.01, source_ref=source.ref, target_ref=target.ref)
    shuffled = xt[torch.randperm(60, generator=torch.Generator().manual_seed(0))]  # pairs broken on purpose
    bad = hubstitch.fit_translator(xs, shuffled, method="linear", alpha=0.01, source_ref=source.ref,
                                   target_ref=target.ref)
    good.save_pretrained(tmp_path / "good")
    bad.save_pretrained(tmp_path / "bad")
    pairs = tmp_path / "pairs.jsonl"
    pairs.write_text("".join(json.dumps({"text": t}) + "\n" for t in TEXTS))
    passed = _gate(tmp_path / "good", "--anchors", pairs, "--min-recall", "0.5", "--k", "5", "--format", "json",
                   cache=tmp_path / "cache")
    assert passed.returncode == 0, passed.stderr
    summary = json.loads(passed.stdout)
    assert summary["passed"] and summary["pairs"] == 60 and summary["recall@5"] >= 0.5
    failed = _gate(tmp_path / "bad", "--anchors", pairs, "--min-recall", "0.5", "--k", "5", cache=tmp_path / "cache")
    assert failed.returncode == 1 and "FAIL" in failed.stdout
    assert "is below --min-recall 0.5" in failed.stderr


def test_gate_refuses_a_k_that_every_item_passes(tiny, tmp_path):
    source, target = Encoder.from_pretrained(tiny["bert"]), Encoder.from_pretrained(tiny["bert-2"])
    xs, xt = source.encode(TEXTS, progress=False), target.encode(TEXTS, progress=False)
    hubstitch.fit_translator(xs, xt, method="linear", alpha=0.01, source_ref=source.ref,
                             target_ref=target.ref).save_pretrained(tmp_path / "t")
    pairs = tmp_path / "pairs.jsonl"
    pairs.write_text("".join(json.dumps({"text": t}) + "\n" for t in TEXTS[:8]))
    refused = _gate(tmp_path / "t", "--anchors", pairs, "--k", "10", cache=tmp_path / "cache")
    assert refused.returncode != 0 and "PASS" not in refused.stdout
    assert "--k 10 with 8 held-out pairs: every item is among its 10 nearest" in refused.stderr
