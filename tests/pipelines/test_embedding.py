"""Stitched encoders: vectors in the target space, the embedding pipeline round trip, and the sentence-transformers
export checked through plain sentence-transformers in a process that never imports hubstitch."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import torch

import hubstitch
from hubstitch import Encoder, StitchedEncoder, StitchedPipeline
from hubstitch.pipelines.sentence_transformers_export import ExportError
from hubstitch.spaces import IncompatibleStagesError

WORDS = ["hello", "world", "the", "cat", "dog", "news", "sport", "money"]
TEXTS = [" ".join(WORDS[(i * k + i) % 8] for k in range(1, 3 + i % 4)) for i in range(80)]


@pytest.fixture(scope="module")
def parts(tiny):
    source, target = Encoder.from_pretrained(tiny["bert"]), Encoder.from_pretrained(tiny["bert-2"])
    xs, xt = source.encode(TEXTS, progress=False), target.encode(TEXTS, progress=False)
    translator = hubstitch.fit_translator(xs, xt, method="linear", alpha=1.0, source_ref=source.ref,
                                          target_ref=target.ref, holdout=0.2)
    return source, target, translator


def test_stitched_encoder_gives_target_space_vectors_and_a_single_item_gives_one_row(parts):
    source, target, translator = parts
    stitched = StitchedEncoder(source, translator)
    vectors = stitched.encode(TEXTS[:5])
    assert vectors.shape == (5, target.dim) and stitched.space == translator.config.target
    assert torch.allclose(vectors, translator(source.encode(TEXTS[:5], progress=False)))
    assert stitched.encode("hello world").shape == (1, target.dim)
    with pytest.raises(IncompatibleStagesError, match="encoder gives"):
        StitchedEncoder(target, translator)


@pytest.mark.slow
def test_embedding_pipeline_saves_loads_and_predict_prints_vectors(parts, tmp_path):
    source, _, translator = parts
    StitchedEncoder(source, translator).save_pretrained(tmp_path / "pipe")
    manifest = json.loads((tmp_path / "pipe" / "config.json").read_text())
    assert manifest["shape"] == "embedding" and [s["role"] for s in manifest["stages"]] == ["encoder", "translator"]
    card = (tmp_path / "pipe" / "README.md").read_text()
    assert "pipeline_tag: feature-extraction" in card and "not in the space of the base model" in card
    loaded = StitchedPipeline.from_pretrained(tmp_path / "pipe")
    assert isinstance(loaded, StitchedEncoder)
    assert torch.allclose(loaded.encode(TEXTS[:3]), StitchedEncoder(source, translator).encode(TEXTS[:3]))
    run = subprocess.run([sys.executable, "-m", "hubstitch.cli", "predict", str(tmp_path / "pipe"), "hello world",
                          "the cat"], capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    assert run.stdout.startswith("vectors (2, 48) in the space of") and "hello world\t[" in run.stdout
    as_json = subprocess.run([sys.executable, "-m", "hubstitch.cli", "predict", str(tmp_path / "pipe"), "the cat",
                              "--format", "json"], capture_output=True, text=True, timeout=300)
    assert len(json.loads(as_json.stdout)[0]["vector"]) == 48


PLAIN_ST = """
import json, sys
from sentence_transformers import SentenceTransformer
model = SentenceTransformer(sys.argv[1], device="cpu", trust_remote_code=False)
vectors = model.encode(json.loads(sys.argv[2]), convert_to_numpy=True, prompt_name=(sys.argv[3:] or [None])[0])
assert not any(name.startswith("hubstitch") for name in sys.modules), "hubstitch was imported"
print(json.dumps(vectors.tolist()))
"""


def _plain_sentence_transformers(folder, texts, prompt_name=None) -> torch.Tensor:
    run = subprocess.run([sys.executable, "-c", PLAIN_ST, str(folder), json.dumps(texts),
                          *([prompt_name] if prompt_name else [])], capture_output=True, text=True, timeout=600,
                         cwd=folder.parent)
    assert run.returncode == 0, run.stderr
    return torch.tensor(json.loads(run.stdout))


@pytest.mark.parametrize("method", ["linear", "orthogonal"])
def test_export_st_equals_the_stitched_encoder_through_plain_sentence_transformers(parts, tmp_path, method):
    source, target, _ = parts
    xs, xt = source.encode(TEXTS, progress=False), target.encode(TEXTS, progress=False)
    # a normalised target space: calibration and the final Normalize are in the chain too
    normalised = {**vars(target.ref), "normalization": "l2"}
    translator = hubstitch.fit_translator(xs, torch.nn.functional.normalize(xt, dim=1), method=method,
                                          source_ref=source.ref, target_ref=normalised)
    stitched = StitchedEncoder(source, translator)
    folder = stitched.to_sentence_transformers(tmp_path / "st")
    modules = json.loads((folder / "modules.json").read_text())
    assert [m["type"].rsplit(".", 1)[1] for m in modules][:2] == ["Transformer", "Pooling"]
    assert modules[-1]["type"] == "sentence_transformers.models.Normalize"
    assert not list(folder.rglob("*.py")) and not list(folder.rglob("*.bin"))
    plain = _plain_sentence_transformers(folder, TEXTS[:12])
    assert torch.allclose(plain, stitched.encode(TEXTS[:12]), atol=1e-5)
    card = (folder / "README.md").read_text()
    assert "library_name: sentence-transformers" in card and "not in" in card


def test_a_sources_prompts_apply_in_the_stitched_encoder_and_travel_with_the_export(parts, tiny, tmp_path):
    """e5 / bge query prefixes: the source repo's named prompts are applied as sentence-transformers applies them,
    and kept in the export's config_sentence_transformers.json (they were dropped)."""
    import shutil

    _, target, _ = parts
    folder = tmp_path / "e5-like"
    shutil.copytree(tiny["bert"], folder)
    (folder / "1_Pooling").mkdir()
    (folder / "1_Pooling" / "config.json").write_text(json.dumps({"word_embedding_dimension": 32,
                                                                  "pooling_mode_mean_tokens": True}))
    (folder / "modules.json").write_text(json.dumps([
        {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
        {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"}]))
    (folder / "config_sentence_transformers.json").write_text(json.dumps(
        {"prompts": {"query": "query: ", "passage": "passage: "}, "default_prompt_name": None}))
    source = Encoder.from_pretrained(folder)
    assert torch.allclose(source.encode(TEXTS[:4], prompt_name="query", progress=False),
                          source.encode(["query: " + t for t in TEXTS[:4]], progress=False), atol=1e-6)
    with pytest.raises(Exception, match=r"prompt_name='question'; .* has the prompts \['passage', 'query'\]"):
        source.encode(TEXTS[:1], prompt_name="question", progress=False)
    translator = hubstitch.fit_translator(source.encode(TEXTS, progress=False), target.encode(TEXTS, progress=False),
                                          method="linear", alpha=1.0, source_ref=source.ref, target_ref=target.ref)
    stitched = StitchedEncoder(source, translator)
    exported = stitched.to_sentence_transformers(tmp_path / "st")
    settings = json.loads((exported / "config_sentence_transformers.json").read_text())
    assert settings["prompts"] == {"query": "query: ", "passage": "passage: "}
    plain = _plain_sentence_transformers(exported, TEXTS[:6], prompt_name="query")
    assert torch.allclose(plain, stitched.encode(TEXTS[:6], prompt_name="query"), atol=1e-5)
    assert not torch.allclose(plain, stitched.encode(TEXTS[:6]), atol=1e-3)  # the prompt changed the vectors
    card = (exported / "README.md").read_text()
    assert "base_model_relation: adapter" not in card  # full weights: never called an adapter


def test_export_refuses_non_affine_translators_and_existing_folders(parts, tmp_path):
    source, target, _ = parts
    xs, xt = source.encode(TEXTS, progress=False), target.encode(TEXTS, progress=False)
    relative = hubstitch.fit_translator(xs, xt, method="relative", source_ref=source.ref, target_ref=target.ref)
    with pytest.raises(hubstitch.HubstitchValueError, match="'relative' translator is not an affine map"):
        StitchedEncoder(source, relative).to_sentence_transformers(tmp_path / "r")
    assert not (tmp_path / "r").exists()
    (tmp_path / "taken").mkdir()
    linear = hubstitch.fit_translator(xs, xt, method="linear", source_ref=source.ref, target_ref=target.ref)
    with pytest.raises(ExportError, match="already exists"):
        StitchedEncoder(source, linear).to_sentence_transformers(tmp_path / "taken")


def test_export_st_cli(parts, tmp_path):
    source, _, translator = parts
    translator.save_pretrained(tmp_path / "tr")
    run = subprocess.run([sys.executable, "-m", "hubstitch.cli", "export-st", str(source.ref.model_id),
                          str(tmp_path / "tr"), "--out", str(tmp_path / "st")], capture_output=True, text=True,
                         timeout=300)
    assert run.returncode == 0, run.stderr
    assert "vectors in the space of" in run.stdout and (tmp_path / "st" / "modules.json").is_file()


@pytest.mark.slow
def test_export_of_real_minilm_to_mpnet_through_plain_sentence_transformers(shelf_cache, tmp_path, monkeypatch):
    import huggingface_hub.constants as constants

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)  # read at import: set the constants, not the environment
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(shelf_cache))
    minilm = Encoder.from_pretrained("sentence-transformers/all-MiniLM-L6-v2", cache_dir=shelf_cache,
                                     local_files_only=True)
    mpnet = Encoder.from_pretrained("sentence-transformers/all-mpnet-base-v2", cache_dir=shelf_cache,
                                    local_files_only=True)
    texts = [f"{subject} {verb} on day {i}." for i, (subject, verb) in enumerate(
        (s, v) for s in ("The bank", "The striker", "The minister", "The phone", "The film")
        for v in ("rose", "fell", "won", "lost", "spoke", "opened", "closed", "moved"))]
    translator = hubstitch.fit_translator(minilm.encode(texts, progress=False), mpnet.encode(texts, progress=False),
                                          method="orthogonal", source_ref=minilm.ref, target_ref=mpnet.ref)
    stitched = StitchedEncoder(minilm, translator)
    folder = stitched.to_sentence_transformers(tmp_path / "minilm-in-mpnet-space")
    plain = _plain_sentence_transformers(folder, texts[:10])
    assert plain.shape == (10, 768)
    assert torch.allclose(plain, stitched.encode(texts[:10]), atol=1e-5)
    assert torch.allclose(plain.norm(dim=1), torch.ones(10), atol=1e-5)
    card = (folder / "README.md").read_text()  # the source's full weights are in the folder: a finetune's relation
    assert "base_model: sentence-transformers/all-MiniLM-L6-v2" in card and "base_model_relation: finetune" in card
    card = (folder / "README.md").read_text()
    assert "base_model: sentence-transformers/all-MiniLM-L6-v2" in card and "all-mpnet-base-v2" in card
