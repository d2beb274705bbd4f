"""The translator artifact: exact round trips, safe loading, card metadata, and refusals with clear errors."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from huggingface_hub import ModelCard
from huggingface_hub.repocard_data import model_index_to_eval_results
from safetensors import safe_open
from safetensors.torch import load_file, save_file

import hubstitch
from hubstitch import Translator
from hubstitch.errors import ArtifactError, DimensionError

METHOD_OPTIONS = {"orthogonal": {"isotropic_scale": True}, "affine": {}, "linear": {"alpha": 3.0},
                  "relative": {}, "mlp": {"max_epochs": 5, "hidden_dim": 16}}


def _fit(gen, method="orthogonal", n=300, ds=24, dt=32, **extra):
    x = torch.randn(n, ds, generator=gen)
    y = torch.randn(n, dt, generator=gen) + torch.nn.functional.pad(x, (0, dt - ds))
    x[:, 5] = 0.5  # a dead dimension, so keep-masks are exercised
    translator = hubstitch.fit_translator(
        x, y, method=method, holdout=0.2, source_ref={"model_id": "org/source", "revision": "a" * 40, "dim": ds},
        target_ref="org/target", anchors={"dataset_id": "org/anchors", "split": "train", "n": n},
        **{**METHOD_OPTIONS[method], **extra})
    return translator, x


@pytest.mark.parametrize("method", sorted(METHOD_OPTIONS))
def test_save_and_reload_reproduce_outputs_bit_for_bit(gen, tmp_path, method):
    translator, x = _fit(gen, method)
    translator.save_pretrained(tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["README.md", "config.json", "model.safetensors"]
    reloaded = Translator.from_pretrained(tmp_path)
    fresh = torch.randn(17, 24, generator=gen)
    assert torch.equal(reloaded(fresh), translator(fresh))
    assert reloaded.config == translator.config


def test_a_format_1_translator_loads_with_calibration_off(gen, tmp_path):
    """Artifacts written before output calibration (format 1: no output tensors, no such option) still load."""
    translator, x = _fit(gen, "orthogonal", output_calibration="none", span_only=False)
    translator.save_pretrained(tmp_path)
    config = json.loads((tmp_path / "config.json").read_text())
    config["format_version"] = 1
    del config["options"]["output_calibration"], config["options"]["span_only"]
    (tmp_path / "config.json").write_text(json.dumps(config))
    tensors = load_file(str(tmp_path / "model.safetensors"))
    del tensors["translation.output_center"], tensors["translation.output_radius"]
    save_file(tensors, str(tmp_path / "model.safetensors"))
    reloaded = Translator.from_pretrained(tmp_path)
    assert reloaded.config.options["output_calibration"] == "none" and not reloaded.config.options["span_only"]
    assert torch.equal(reloaded(x), translator(x))


def test_spread_calibration_is_on_for_a_normalised_target_space_only(gen):
    x = torch.randn(400, 16, generator=gen)
    y = torch.nn.functional.normalize(x @ torch.randn(16, 24, generator=gen) + 0.5, dim=1)
    normalised = hubstitch.fit_translator(x, y, method="linear", alpha=100.0)
    assert normalised.config.options["output_calibration"] == "spread"
    out = normalised(x)
    center = y.mean(dim=0)
    radius = float(((y - center) ** 2).sum(dim=1).mean().sqrt())
    assert torch.allclose((out - center).norm(dim=1), torch.full((400,), radius), atol=1e-4)
    plain = hubstitch.fit_translator(x, 3 * y, method="linear", alpha=100.0)  # norms 3, still constant
    assert plain.config.options["output_calibration"] == "spread"
    assert hubstitch.fit_translator(x, y * torch.rand(400, 1, generator=gen) + 1, method="linear",
                                    ).config.options["output_calibration"] == "none"


def test_config_and_safetensors_metadata_name_source_and_target(gen, tmp_path):
    translator, _ = _fit(gen, "linear")
    translator.save_pretrained(tmp_path)
    config = json.loads((tmp_path / "config.json").read_text())
    assert config["library_name"] == "hubstitch" and config["format_version"] == 2
    assert config["method"] == "linear" and config["options"]["alpha"] == 3.0
    assert config["source"]["model_id"] == "org/source" and config["source"]["revision"] == "a" * 40
    assert config["source_active_dim"] == 23 and config["preprocessing"]["source_dead_dims"] == [5]
    assert config["anchors"]["dataset_id"] == "org/anchors"
    assert set(config["metrics"]["heldout"]) >= {"cosine", "mse", "top1", "top5", "mrr", "cka", "mutual_knn"}
    assert config["metrics"]["n_heldout"] == 60
    with safe_open(str(tmp_path / "model.safetensors"), framework="pt") as handle:
        meta = handle.metadata()
    assert meta["source"] == "org/source" and meta["target"] == "org/target" and meta["method"] == "linear"


def test_model_card_metadata(gen, tmp_path):
    translator, _ = _fit(gen, "orthogonal")
    translator.config.target.model_id = str(tmp_path / "local-encoder")  # a local path must stay out of base_model
    (tmp_path / "local-encoder").mkdir()
    translator.save_pretrained(tmp_path / "out")
    card = ModelCard.load(tmp_path / "out" / "README.md")
    assert card.data.library_name == "hubstitch" and card.data.pipeline_tag == "feature-extraction"
    assert card.data.base_model == "org/source" and card.data.base_model_relation == "adapter"  # the source only
    assert card.data.datasets == ["org/anchors"]
    assert "hubstitch" in card.data.tags
    _, results = model_index_to_eval_results(card.data.to_dict()["model-index"])
    values = {r.metric_type: r.metric_value for r in results}
    assert values["top1"] == pytest.approx(translator.config.metrics["heldout"]["top1"], abs=1e-6)
    assert {r.dataset_type for r in results} == {"org/anchors"}  # model-index names a Hub dataset
    assert "Held-out metrics" in card.text and "Retrieval top-1" in card.text


def test_card_without_a_hub_dataset_leaves_model_index_out_and_states_a_shared_license(gen, tmp_path):
    x, y = torch.randn(200, 8, generator=gen), torch.randn(200, 8, generator=gen)
    licensed = {"model_id": "org/a", "dim": 8, "license": "apache-2.0"}
    translator = hubstitch.fit_translator(x, y, method="linear", holdout=0.2, source_ref=licensed,
                                          target_ref={**licensed, "model_id": "org/b"},
                                          anchors={"dataset_id": str(tmp_path / "local.jsonl")})
    data = translator.generate_model_card().data.to_dict()
    assert "model-index" not in data and "datasets" not in data and data["license"] == "apache-2.0"
    assert "Retrieval top-1" in translator.generate_model_card().text  # the metrics stay in the card's table
    mixed = hubstitch.fit_translator(x, y, method="linear", source_ref=licensed,
                                     target_ref={**licensed, "model_id": "org/b", "license": "mit"})
    assert "license" not in mixed.generate_model_card().data.to_dict()


def test_card_usage_snippet_runs(gen, tmp_path):
    translator, _ = _fit(gen, "linear")
    translator.save_pretrained(tmp_path)
    card = translator.generate_model_card(repo_id=str(tmp_path))
    snippet = re.search(r"```python\n(.*?)```", card.text, re.S).group(1)
    result = subprocess.run([sys.executable, "-c", snippet], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "torch.Size([4, 32])"


def test_load_by_hub_id_from_an_offline_cache(gen, tmp_path):
    """A translator published on the Hub and cached loads by id, at a branch or a commit, with HF_HUB_OFFLINE=1."""
    translator, _ = _fit(gen, "orthogonal")
    commit = "0123456789abcdef0123456789abcdef01234567"
    snapshot = tmp_path / "hub" / "models--org--my-translator" / "snapshots" / commit
    translator.save_pretrained(snapshot)
    (tmp_path / "hub" / "models--org--my-translator" / "refs").mkdir()
    (tmp_path / "hub" / "models--org--my-translator" / "refs" / "main").write_text(commit)
    fresh = torch.randn(5, 24, generator=gen)
    save_file({"x": fresh}, str(tmp_path / "x.safetensors"))
    code = (
        "import sys, torch; from safetensors.torch import load_file, save_file; from hubstitch import Translator\n"
        "x = load_file(sys.argv[1])['x']\n"
        "a = Translator.from_pretrained('org/my-translator')\n"
        f"b = Translator.from_pretrained('org/my-translator', revision='{commit}')\n"
        "assert torch.equal(a(x), b(x))\n"
        "save_file({'y': a(x)}, sys.argv[2])\n"
    )
    # An endpoint where nothing listens: any network call would fail loudly instead of silently succeeding.
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_HUB_CACHE": str(tmp_path / "hub"),
           "HF_ENDPOINT": "http://127.0.0.1:9"}
    result = subprocess.run([sys.executable, "-c", code, str(tmp_path / "x.safetensors"), str(tmp_path / "y.st")],
                            capture_output=True, text=True, env=env, timeout=120)
    assert result.returncode == 0, result.stderr
    assert torch.equal(load_file(str(tmp_path / "y.st"))["y"], translator(fresh))


def _saved(gen, tmp_path, method="linear"):
    translator, _ = _fit(gen, method)
    translator.save_pretrained(tmp_path)
    return translator


def test_tensors_that_disagree_with_the_config_are_refused(gen, tmp_path):
    _saved(gen, tmp_path)
    tensors = load_file(str(tmp_path / "model.safetensors"))
    tensors["translation.map.weight"] = tensors["translation.map.weight"][:, :5].contiguous()
    save_file(tensors, str(tmp_path / "model.safetensors"))
    with pytest.raises(ArtifactError, match=r"'translation.map.weight' has shape \(23, 5\).*\(23, 32\)"):
        Translator.from_pretrained(tmp_path)
    del tensors["translation.map.weight"]
    save_file(tensors, str(tmp_path / "model.safetensors"))
    with pytest.raises(ArtifactError, match=r"missing keys \['translation.map.weight'\]"):
        Translator.from_pretrained(tmp_path)


def test_keep_mask_that_disagrees_with_active_dims_is_refused(gen, tmp_path):
    _saved(gen, tmp_path)
    tensors = load_file(str(tmp_path / "model.safetensors"))
    tensors["translation.source_prep.keep"][5] = True
    save_file(tensors, str(tmp_path / "model.safetensors"))
    with pytest.raises(ArtifactError, match="keeps 24 dimensions but the config says source_active_dim=23"):
        Translator.from_pretrained(tmp_path)


@pytest.mark.parametrize("change,message", [
    ({"method": "sinkhorn"}, "method 'sinkhorn'.*expected one of"),
    ({"format_version": 99}, "format_version 99, newer than 3.*upgrade"),
    ({"format_version": "1"}, "format_version '1'; expected an integer"),
])
def test_unknown_method_and_newer_format_are_refused(gen, tmp_path, change, message):
    _saved(gen, tmp_path)
    config = json.loads((tmp_path / "config.json").read_text())
    (tmp_path / "config.json").write_text(json.dumps({**config, **change}))
    with pytest.raises(ArtifactError, match=message):
        Translator.from_pretrained(tmp_path)


def test_unknown_provenance_keys_from_a_newer_hubstitch_are_ignored_with_a_warning(gen, tmp_path, caplog):
    """Anchor provenance is audit only (the map is in the tensors): a key a later version records does not make the
    translator unloadable, and it gives the same outputs; the keys are named in a warning."""
    translator, x = _fit(gen, "orthogonal")
    translator.save_pretrained(tmp_path)
    config = json.loads((tmp_path / "config.json").read_text())
    config["anchors"]["paraphrases"] = 3
    config["future_top_level"] = {"a": 1}
    (tmp_path / "config.json").write_text(json.dumps(config))
    with caplog.at_level("WARNING", logger="hubstitch.translators.config"):
        reloaded = Translator.from_pretrained(tmp_path)
    assert "ignoring unknown anchor provenance keys ['paraphrases']" in caplog.text
    assert "ignoring unknown keys ['future_top_level']" in caplog.text
    assert reloaded.config.anchors == translator.config.anchors
    assert torch.equal(reloaded(x), translator(x))


def test_pickle_weights_are_never_loaded(gen, tmp_path):
    _saved(gen, tmp_path)
    (tmp_path / "model.safetensors").unlink()
    (tmp_path / "pytorch_model.bin").write_bytes(b"\x80\x04not really a pickle")
    with pytest.raises(ArtifactError, match="model.safetensors is missing"):
        Translator.from_pretrained(tmp_path)


def test_wrong_width_at_transform_time(gen):
    translator, _ = _fit(gen, "orthogonal")
    with pytest.raises(DimensionError, match="width 30; expected 24"):
        translator(torch.randn(3, 30))


def test_non_hub_revision_is_refused():
    with pytest.raises(ArtifactError, match="40-hex"):
        hubstitch.LatentSpaceRef(model_id="org/model", revision="main", dim=3)


def test_config_file_is_plain_json_no_class_names(gen, tmp_path):
    _saved(gen, tmp_path)
    text = Path(tmp_path / "config.json").read_text()
    assert "_target_" not in text and "class" not in text and "import" not in text


@pytest.mark.parametrize("method", ["linear", "relative", "affine"])
def test_reload_is_bit_exact_in_the_dual_regime_too(gen, tmp_path, method):
    """Fewer anchors than dimensions (ridge's dual form) used to leave a transposed weight: stored contiguous now."""
    x = torch.randn(40, 64, generator=gen)
    y = torch.randn(40, 48, generator=gen)
    options = {"source_preprocessing": "none"} if method == "affine" else {}
    if method == "affine":
        x = torch.randn(200, 16, generator=gen)
        y = torch.randn(200, 48, generator=gen)
    translator = hubstitch.fit_translator(x, y, method=method, **options)
    assert all(t.is_contiguous() for t in translator.state_dict().values())
    translator.save_pretrained(tmp_path)
    assert torch.equal(Translator.from_pretrained(tmp_path)(x[:7]), translator(x[:7]))
