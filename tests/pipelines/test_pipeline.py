"""Stitched pipelines on tiny checkpoints: both shapes, save/load, and checks made before any weights load."""

from __future__ import annotations

import json
import shutil

import pytest
import tiny_models as tm

import hubstitch
from hubstitch.encoders.encoder import Encoder
from hubstitch.errors import ArtifactError
from hubstitch.heads.head import ClassifierHead
from hubstitch.heads.relative import fit_relative_head
from hubstitch.pipelines.pipeline import StitchedPipeline
from hubstitch.spaces import IncompatibleStagesError

WORDS = ["hello", "world", "the", "cat", "dog", "news", "sport", "money"]
TEXTS = [" ".join(WORDS[(i * k + i) % 8] for k in range(1, 3 + i % 4)) for i in range(80)]
LABELS = ["business" if "money" in t or "news" in t else "sport" for t in TEXTS]


@pytest.fixture(scope="module")
def parts(tiny):
    source, target = Encoder.from_pretrained(tiny["bert"]), Encoder.from_pretrained(tiny["bert-2"])
    xs, xt = source.encode(TEXTS, progress=False), target.encode(TEXTS, progress=False)
    translator = hubstitch.fit_translator(xs, xt, method="linear", alpha=0.1, source_ref=source.ref,
                                          target_ref=target.ref)
    head = ClassifierHead.fit(xt, LABELS, epochs=100, encoder=target.ref)
    return source, target, translator, head


def test_translated_pipeline_predicts_saves_and_reloads(parts, tmp_path):
    source, _, translator, head = parts
    pipe = StitchedPipeline(source, translator, head)
    out = pipe(TEXTS[:5], top_k=2)
    expected = head.predict(translator(source.encode(TEXTS[:5], progress=False)), top_k=2)
    assert out == expected and len(out[0]) == 2 and set(out[0][0]) == {"label", "score"}
    assert pipe(TEXTS[0]) == expected[0][:1]  # a single input gives its own list
    pipe.save_pretrained(tmp_path / "pipe")
    manifest = json.loads((tmp_path / "pipe" / "config.json").read_text())
    assert [s["role"] for s in manifest["stages"]] == ["encoder", "translator", "head"]
    assert manifest["stages"][1]["path"] == "translator" and manifest["stages"][0]["revision"] == source.ref.revision
    reloaded = StitchedPipeline.from_pretrained(tmp_path / "pipe")
    assert reloaded(TEXTS[:5], top_k=2) == out
    assert "stitched-pipeline" in (tmp_path / "pipe" / "README.md").read_text()


def test_incompatible_stages_are_refused_before_weights_load(parts, tiny, tmp_path):
    source, target, translator, head = parts
    with pytest.raises(IncompatibleStagesError, match="encoder gives model_id=.*bert-2.* translator expects"):
        StitchedPipeline(target, translator, head)
    other = Encoder.from_pretrained(tiny["bert"], pooling="cls")
    with pytest.raises(IncompatibleStagesError, match="pooling='cls' but the translator expects pooling='mean'"):
        StitchedPipeline(other, translator, head)
    StitchedPipeline(source, translator, head).save_pretrained(tmp_path / "pipe")
    config = json.loads((tmp_path / "pipe" / "translator" / "config.json").read_text())
    config["target"]["dim"] = 99
    (tmp_path / "pipe" / "translator" / "config.json").write_text(json.dumps(config))
    (tmp_path / "pipe" / "translator" / "model.safetensors").write_bytes(b"not even safetensors")
    with pytest.raises(IncompatibleStagesError, match="translator gives dim=99 but the head expects dim=48"):
        StitchedPipeline.from_pretrained(tmp_path / "pipe")  # refused on configs: the broken weights are never read


def test_relative_pipeline_plugs_any_encoder_without_a_translator(parts, tiny, tmp_path):
    _, target, _, _ = parts
    anchors = TEXTS[:24]
    head = fit_relative_head(target.encode(anchors, progress=False), anchors, target.encode(TEXTS, progress=False),
                             LABELS, epochs=100, encoder=target.ref)
    for encoder in (target, Encoder.from_pretrained(tiny["distilbert"])):
        pipe = StitchedPipeline(encoder, None, head)
        assert pipe.shape == "relative" and len(pipe(TEXTS[:3])) == 3
    pipe = StitchedPipeline(Encoder.from_pretrained(tiny["distilbert"]), None, head)
    pipe.save_pretrained(tmp_path / "rel")
    assert json.loads((tmp_path / "rel" / "head" / "anchors.json").read_text()) == anchors
    assert StitchedPipeline.from_pretrained(tmp_path / "rel")(TEXTS[:6], top_k=2) == pipe(TEXTS[:6], top_k=2)
    with pytest.raises(IncompatibleStagesError, match="relative head reads relative representations"):
        StitchedPipeline(target, parts[2], head)


@pytest.mark.parametrize("change,message", [
    (lambda m: m["stages"][1].update(path="../../elsewhere"), "expected a relative subfolder"),
    (lambda m: m["stages"][1].update(kind="torch.nn.Module"), "resolves only"),
    (lambda m: m.update(format_version=7), "format_version 7"),
    (lambda m: m["stages"].pop(1), "needs \\['encoder', 'translator', 'head'\\]"),
])
def test_bad_manifests_are_refused(parts, tmp_path, change, message):
    source, _, translator, head = parts
    StitchedPipeline(source, translator, head).save_pretrained(tmp_path / "pipe")
    manifest = json.loads((tmp_path / "pipe" / "config.json").read_text())
    change(manifest)
    (tmp_path / "pipe" / "config.json").write_text(json.dumps(manifest))
    with pytest.raises(ArtifactError, match=message):
        StitchedPipeline.from_pretrained(tmp_path / "pipe")


def test_revision_override_warns(parts, tiny, tmp_path, caplog):
    source, _, translator, head = parts
    folder = tmp_path / "pipe"
    StitchedPipeline(source, translator, head).save_pretrained(folder)
    with caplog.at_level("WARNING"):
        StitchedPipeline.from_pretrained(folder, stage_revisions={"encoder": source.ref.revision})
    assert "overriding the pinned revision" in caplog.text
    shutil.rmtree(folder)


def test_native_image_pipeline_takes_pil_images_and_paths_and_records_accuracy(tiny, tmp_path):
    from huggingface_hub import ModelCard

    from hubstitch.heads.splice import head_from_classifier

    head = head_from_classifier(tiny["vit-cls"])
    encoder = Encoder.from_pretrained(tiny["vit-cls"], pooling=head.config.encoder.pooling)
    pipe = StitchedPipeline(encoder, None, head)
    images = tm.images(4)
    paths = []
    for i, image in enumerate(images):
        image.save(tmp_path / f"{i}.png")
        paths.append(str(tmp_path / f"{i}.png"))
    assert pipe.shape == "native"
    from_pil, from_paths = pipe(images, top_k=3), pipe(paths, top_k=3)
    assert [[p["label"] for p in top] for top in from_pil] == [[p["label"] for p in top] for top in from_paths]
    assert pipe(paths[0])[0]["label"] in head.labels
    labels = [top[0]["label"] for top in from_pil]
    assert pipe.evaluate(images, labels) == {"accuracy": 1.0, "n": 4}
    pipe.save_pretrained(tmp_path / "pipe")
    card = ModelCard.load(tmp_path / "pipe" / "README.md")
    assert card.data.eval_results is None and "Stitched top-1 accuracy: 1.0000" in card.text  # no Hub dataset
    assert card.data.pipeline_tag == "image-classification"
    assert pipe.evaluate(images, labels, dataset="org/fashion-test") == {"accuracy": 1.0, "n": 4,
                                                                          "dataset": "org/fashion-test"}
    pipe.save_pretrained(tmp_path / "pipe")
    card = ModelCard.load(tmp_path / "pipe" / "README.md")
    assert card.data.eval_results[0].metric_type == "accuracy" and card.data.eval_results[0].metric_value == 1.0
    assert card.data.eval_results[0].dataset_type == "org/fashion-test"
    assert StitchedPipeline.from_pretrained(tmp_path / "pipe").metrics["accuracy"] == 1.0
