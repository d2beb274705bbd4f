"""Classifier heads: spliced out of five architectures (reproducing the full model's logits), trained, saved."""

from __future__ import annotations

import json

import pytest
import tiny_models as tm
import torch
import transformers as tf
from huggingface_hub import ModelCard

from hubstitch.encoders.encoder import Encoder
from hubstitch.errors import ArtifactError
from hubstitch.heads.head import ClassifierHead
from hubstitch.heads.splice import SPLICES, UnsupportedArchitectureError, head_from_classifier


@pytest.mark.parametrize("family", ["bert", "roberta", "distilbert"])
def test_spliced_text_heads_reproduce_the_full_models_logits(tiny, family):
    folder = tiny[f"{family}-cls"]
    head = head_from_classifier(folder)
    encoder = Encoder.from_pretrained(folder, pooling=head.config.encoder.pooling)
    full = tf.AutoModelForSequenceClassification.from_pretrained(folder).eval()
    with torch.no_grad():
        expected = full(**tf.AutoTokenizer.from_pretrained(folder)(tm.TEXTS, padding=True, return_tensors="pt")).logits
    assert torch.allclose(head(encoder.encode(tm.TEXTS, batch_size=4, progress=False)), expected, atol=1e-5)
    assert head.labels == ["business", "sport", "tech"] and head.config.architecture == family


@pytest.mark.parametrize("family", ["vit", "mobilenet_v2"])
def test_spliced_image_heads_reproduce_the_full_models_logits(tiny, family):
    folder = tiny[f"{family}-cls"]
    head = head_from_classifier(folder)
    encoder = Encoder.from_pretrained(folder, pooling=head.config.encoder.pooling)
    full = tf.AutoModelForImageClassification.from_pretrained(folder).eval()
    images = tm.images(6)
    with torch.no_grad():
        expected = full(**tf.AutoImageProcessor.from_pretrained(folder)(images=images, return_tensors="pt")).logits
    assert torch.allclose(head(encoder.encode(images, batch_size=4, progress=False)), expected, atol=1e-5)
    assert expected.std() > 0  # the logits are not trivially alike


def test_unsupported_architecture_lists_the_supported_ones(tiny):
    with pytest.raises(UnsupportedArchitectureError, match=r"'gpt2' checkpoint; .*\['bert', 'distilbert'"):
        head_from_classifier(tiny["gpt2"])
    assert set(SPLICES) >= {"bert", "roberta", "distilbert", "vit", "mobilenet_v2"}


def test_trained_head_learns_saves_and_reloads(gen, tmp_path):
    centres = torch.randn(3, 16, generator=gen) * 3
    labels = torch.randint(0, 3, (300,), generator=gen)
    x = centres[labels] + torch.randn(300, 16, generator=gen)
    names = ["business", "sport", "tech"]
    head = ClassifierHead.fit(x, [names[i] for i in labels], hidden_dim=8, epochs=200)
    assert head.labels == names
    assert head.config.training["val_accuracy"] > 0.9
    head.save_pretrained(tmp_path)
    reloaded = ClassifierHead.from_pretrained(tmp_path)
    assert torch.equal(reloaded(x), head(x))
    top = reloaded.predict(x[:2], top_k=2)
    assert len(top[0]) == 2 and abs(sum(p["score"] for p in top[0]) - 1) < 0.5 and top[0][0]["label"] in names
    card = ModelCard.load(tmp_path / "README.md")
    assert card.data.library_name == "hubstitch" and card.data.pipeline_tag == "text-classification"
    assert card.data.eval_results is None  # no Hub dataset named: model-index is left out
    head.config.training["dataset"] = {"dataset_id": "org/topics"}
    head.save_pretrained(tmp_path)
    card = ModelCard.load(tmp_path / "README.md")
    result = card.data.eval_results[0]
    assert result.metric_type == "accuracy" and result.dataset_type == "org/topics"
    assert card.data.eval_results[0].metric_value == pytest.approx(head.config.training["val_accuracy"], abs=1e-6)
    config = json.loads((tmp_path / "config.json").read_text())
    config["artifact"] = "translator"
    (tmp_path / "config.json").write_text(json.dumps(config))
    with pytest.raises(ArtifactError, match="not a hubstitch classifier head"):
        ClassifierHead.from_pretrained(tmp_path)


def test_spliced_head_card_names_its_encoder(tiny, tmp_path):
    head = head_from_classifier(tiny["bert-cls"])
    head.save_pretrained(tmp_path)
    text = (tmp_path / "README.md").read_text()
    assert "pooling `pooler`" in text and "spliced" in text
    assert ClassifierHead.from_pretrained(tmp_path).config.encoder.revision == head.config.encoder.revision
