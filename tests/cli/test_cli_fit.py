"""``hubstitch fit`` and ``hubstitch train-head`` end to end on tiny checkpoints, cached, with clear errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
import tiny_models as tm
from helpers import one_error_line

from hubstitch import Translator
from hubstitch.heads.head import ClassifierHead


def _run(*args, cache):
    env = {**os.environ, "HUBSTITCH_CACHE": str(cache), "HF_HUB_DISABLE_PROGRESS_BARS": "1", "HF_HUB_OFFLINE": "1",
           "HF_HUB_CACHE": str(cache / "hub")}
    return subprocess.run([sys.executable, "-m", "hubstitch.cli", *map(str, args)], capture_output=True, text=True,
                          env=env, timeout=600)


@pytest.fixture
def sentences(tmp_path):
    words = ["hello", "world", "the", "cat", "dog", "news", "sport", "money"]
    rows = [{"text": " ".join(words[(i * k) % 8] for k in range(1, 2 + i % 5)), "label": ["a", "b"][i % 2]}
            for i in range(60)]
    path = tmp_path / "sentences.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


@pytest.mark.slow
def test_fit_text_to_text_records_provenance_and_reuses_the_cache(tiny, sentences, tmp_path):
    args = ("fit", tiny["bert"], tiny["bert-2"], "--anchors", sentences, "--n", 30, "--holdout", 12,
            "--method", "linear", "--selection", "stratified", "--label-column", "label", "--format", "json")
    first = _run(*args, "--out", tmp_path / "t1", cache=tmp_path / "cache")
    assert first.returncode == 0, first.stderr
    summary = json.loads(first.stdout)
    assert summary["n_anchors"] == 30 and summary["n_heldout"] == 12
    config = Translator.from_pretrained(tmp_path / "t1").config
    assert config.source.dim == 32 and config.target.dim == 48 and config.source.pooling == "mean"
    assert config.source.revision.startswith("sha256:") and config.anchors.selection == "stratified"
    assert config.anchors.fingerprint and config.anchors.dataset_id.endswith("sentences.jsonl")
    entries = _run("cache", "ls", "--format", "json", cache=tmp_path / "cache")
    assert len(json.loads(entries.stdout)) == 4  # (source, target) x (anchors, held-out)
    second = _run(*args, "--out", tmp_path / "t2", cache=tmp_path / "cache")
    assert second.returncode == 0, second.stderr
    assert json.loads(second.stdout)["heldout"] == summary["heldout"]
    assert len(json.loads(_run("cache", "ls", "--format", "json", cache=tmp_path / "cache").stdout)) == 4


def test_fit_cross_modal_image_to_text_with_paired_columns(tiny, tmp_path):
    rows = []
    for i, image in enumerate(tm.images(24)):
        image.save(tmp_path / f"{i}.png")
        rows.append({"image": str(tmp_path / f"{i}.png"), "caption": f"the {['cat', 'dog'][i % 2]} {i % 5}"})
    (tmp_path / "pairs.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    result = _run("fit", f"{tiny['clip']}:image", tiny["bert"], "--anchors", tmp_path / "pairs.jsonl",
                  "--source-column", "image", "--target-column", "caption", "--method", "orthogonal",
                  "--selection", "kmeans", "--n", 16, "--holdout", 6, "--out", tmp_path / "t", "--format", "json",
                  cache=tmp_path / "cache")
    assert result.returncode == 0, result.stderr
    config = Translator.from_pretrained(tmp_path / "t").config
    assert (config.source.modality, config.target.modality) == ("image", "text")
    assert config.anchors.columns == ["image", "caption"] and config.anchors.selection == "kmeans"
    assert config.anchors.target_reference is None
    # the head downstream was trained on descriptions: --target-reference moves the caption anchors to their mean
    descriptions = tmp_path / "descriptions.jsonl"
    descriptions.write_text("".join(json.dumps({"description": f"a {w} in the shop, size {i}"}) + "\n"
                                    for i, w in enumerate(["cat", "dog", "cat", "dog", "cat"])))
    base = ("fit", f"{tiny['clip']}:image", tiny["bert"], "--anchors", tmp_path / "pairs.jsonl", "--source-column",
            "image", "--target-column", "caption", "--method", "orthogonal", "--holdout", 6, "--target-reference",
            descriptions)
    moved = _run(*base, "--target-reference-column", "description", "--out", tmp_path / "moved",
                 cache=tmp_path / "cache")
    assert moved.returncode == 0, moved.stderr
    assert Translator.from_pretrained(tmp_path / "moved").config.anchors.target_reference == 5
    assert "moved to the mean of 5 reference items" in (tmp_path / "moved" / "README.md").read_text()
    wrong_column = _run(*base, "--out", tmp_path / "wrong", cache=tmp_path / "cache")  # reads 'caption': absent
    assert wrong_column.returncode == 1 and one_error_line(wrong_column.stderr)
    assert "['caption'] not in" in wrong_column.stderr and not (tmp_path / "wrong").exists()


@pytest.mark.slow
def test_train_head_then_errors(tiny, sentences, tmp_path):
    result = _run("train-head", tiny["bert"], "--dataset", sentences, "--text-column", "text", "--label-column",
                  "label", "--out", tmp_path / "head", "--epochs", 50, cache=tmp_path / "cache")
    assert result.returncode == 0, result.stderr
    head = ClassifierHead.from_pretrained(tmp_path / "head")
    assert head.labels == ["a", "b"] and head.config.encoder.pooling == "mean" and head.config.input_dim == 32

    bad_column = _run("fit", tiny["bert"], tiny["bert-2"], "--anchors", sentences, "--source-column", "body",
                      "--out", tmp_path / "x", cache=tmp_path / "cache")
    assert bad_column.returncode == 1 and bad_column.stdout == ""
    assert one_error_line(bad_column.stderr) and "column(s) ['body'] not in" in bad_column.stderr
    wrong_modality = _run("train-head", tiny["bert"], "--dataset", sentences, "--image-column", "text",
                          "--label-column", "label", "--out", tmp_path / "h2", cache=tmp_path / "cache")
    assert wrong_modality.returncode == 1 and "encodes text" in wrong_modality.stderr
    too_many = _run("fit", tiny["bert"], tiny["bert-2"], "--anchors", sentences, "--n", 500, "--out",
                    tmp_path / "y", cache=tmp_path / "cache")
    assert too_many.returncode == 1 and "asked for 500 anchors but only 48" in too_many.stderr
    missing_repo = _run("fit", "no-such-org/no-such-model", tiny["bert"], "--anchors", sentences, "--out",
                        tmp_path / "z", cache=tmp_path / "cache")
    assert missing_repo.returncode == 1 and one_error_line(missing_repo.stderr)
    assert "not in the local Hub cache" in missing_repo.stderr


@pytest.mark.slow
def test_fit_with_unpaired_pools_and_without_anchors(tiny, sentences, tmp_path):
    seeded = _run("fit", tiny["bert"], tiny["bert-2"], "--anchors", sentences, "--n", 8, "--holdout", 0,
                  "--method", "orthogonal", "--unpaired-source", sentences, "--unpaired-target", sentences,
                  "--out", tmp_path / "seeded", "--format", "json", cache=tmp_path / "cache")
    assert seeded.returncode == 0, seeded.stderr
    config = Translator.from_pretrained(tmp_path / "seeded").config
    assert config.pairing["mode"] == "bootstrap" and config.pairing["seed_pairs"] == 8
    assert config.pairing["unpaired_source"] == config.pairing["unpaired_target"] == 60
    unsupervised = _run("fit", tiny["bert"], tiny["bert-2"], "--unpaired-source", sentences, "--unpaired-target",
                        sentences, "--out", tmp_path / "zero", cache=tmp_path / "cache")
    assert unsupervised.returncode == 0, unsupervised.stderr
    config = Translator.from_pretrained(tmp_path / "zero").config
    assert config.pairing["mode"] == "unsupervised" and config.pairing["seed_pairs"] == 0
    assert config.method == "orthogonal" and config.source.dim == 32 and config.target.dim == 48
    neither = _run("fit", tiny["bert"], tiny["bert-2"], "--out", tmp_path / "x", cache=tmp_path / "cache")
    assert neither.returncode == 1 and "needs --anchors, or --unpaired-source and --unpaired-target" in neither.stderr


def test_fit_with_anchor_sentences_fits_on_every_sentence_of_the_chosen_texts(tiny, tmp_path):
    """--anchor-sentences: the n chosen texts and their sentences are the pairs; the held-out rows stay whole; the
    config records it; without the flag the same happens (these are documents; with unpaired pools too, the seeds
    split and the pools whole), --no-anchor-sentences fits on the whole texts; two text columns are refused with the
    fix."""
    rows = [{"text": f"Story {i} begins here today. The cat sat on mat {i}. The dog ran far {i % 3} times.",
             "tr": f"Geschichte {i}."} for i in range(40)]
    path = tmp_path / "stories.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    base = ("fit", tiny["bert"], tiny["bert-2"], "--anchors", path, "--n", 20, "--holdout", 10, "--method",
            "orthogonal", "--format", "json")
    for flag, n_anchors in (("--anchor-sentences", 80), (None, 80), ("--no-anchor-sentences", 20)):
        out = tmp_path / f"t{flag}"
        run = _run(*base, *([flag] if flag else []), "--out", out, cache=tmp_path / "cache")
        assert run.returncode == 0, run.stderr
        summary = json.loads(run.stdout)
        assert summary["n_anchors"] == n_anchors and summary["n_heldout"] == 10  # a text + its three sentences
        config = Translator.from_pretrained(out).config
        assert config.n_anchors == config.anchors.n == n_anchors
        assert config.anchors.sentences == (4 if n_anchors == 80 else None)
        assert ("each text followed by its sentences of 4+ words" in (out / "README.md").read_text()) == (
            n_anchors == 80)
    text = _run(*base[:-2], "--out", tmp_path / "text", cache=tmp_path / "cache")
    assert "anchors: 80  held-out: 10  (the anchor texts and their sentences of 4+ words" in text.stdout, text.stderr
    # with unpaired pools too: the seeds are the texts and their sentences, the pools stay whole texts
    pooled = _run(*base, "--unpaired-source", path, "--unpaired-target", path, "--out", tmp_path / "pooled",
                  cache=tmp_path / "cache")
    assert pooled.returncode == 0, pooled.stderr
    config = Translator.from_pretrained(tmp_path / "pooled").config
    assert config.anchors.sentences == 4 and config.pairing["seed_pairs"] == 80
    assert config.pairing["unpaired_source"] == config.pairing["unpaired_target"] == 40
    refused = _run(*base, "--target-column", "tr", "--anchor-sentences", "--out", tmp_path / "t2",
                   cache=tmp_path / "cache")
    assert refused.returncode != 0 and one_error_line(refused.stderr)
    assert "pair column 'text' with 'tr'" in refused.stderr
    assert not (tmp_path / "t2").exists()
