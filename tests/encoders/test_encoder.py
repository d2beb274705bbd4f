"""`Encoder` on tiny random checkpoints: modalities, poolings, pinning, offline resolution, and refusals."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import numpy as np
import pytest
import tiny_models as tm
import torch
from transformers import AutoModel, AutoTokenizer

from hubstitch.encoders.encoder import Encoder, EncoderError
from hubstitch.encoders.pooling import pool
from hubstitch.errors import UnknownMethodError
from hubstitch.hub.cache import seed_hub_cache


@pytest.mark.parametrize("pooling", ["cls", "mean", "max", "pooler", "lasttoken"])
def test_text_poolings_match_a_direct_forward(tiny, pooling):
    encoder = Encoder.from_pretrained(tiny["bert"], pooling=pooling)
    model, tokenizer = AutoModel.from_pretrained(tiny["bert"]).eval(), AutoTokenizer.from_pretrained(tiny["bert"])
    batch = tokenizer(tm.TEXTS, padding=True, return_tensors="pt")
    with torch.no_grad():
        out = model(**batch)
    mask = batch["attention_mask"]
    expected = {
        "cls": out.last_hidden_state[:, 0],
        "pooler": out.pooler_output,
        "mean": torch.stack([out.last_hidden_state[i, mask[i] == 1].mean(0) for i in range(len(tm.TEXTS))]),
        "max": torch.stack([out.last_hidden_state[i, mask[i] == 1].max(0).values for i in range(len(tm.TEXTS))]),
        "lasttoken": torch.stack([out.last_hidden_state[i, int(mask[i].sum()) - 1] for i in range(len(tm.TEXTS))]),
    }[pooling]
    latents = encoder.encode(tm.TEXTS, batch_size=3, progress=False)  # length-sorted batches, other padding
    assert latents.dtype == torch.float32 and latents.shape == (len(tm.TEXTS), 32)
    assert torch.allclose(latents, expected, atol=1e-5)


def test_layer_selects_hidden_states(tiny):
    encoder = Encoder.from_pretrained(tiny["bert"], pooling="cls", layer=1)
    model, tokenizer = AutoModel.from_pretrained(tiny["bert"]).eval(), AutoTokenizer.from_pretrained(tiny["bert"])
    with torch.no_grad():
        out = model(**tokenizer(["hello world"], return_tensors="pt"), output_hidden_states=True)
    assert torch.allclose(encoder.encode(["hello world"], progress=False), out.hidden_states[1][:, 0], atol=1e-6)
    assert encoder.ref.layer == 1


def test_defaults_per_family_and_image_and_dual_encoders(tiny):
    assert Encoder.from_pretrained(tiny["bert"]).ref.pooling == "mean"
    assert Encoder.from_pretrained(tiny["gpt2"]).ref.pooling == "lasttoken"
    vit = Encoder.from_pretrained(tiny["vit"])
    assert (vit.ref.modality, vit.ref.pooling) == ("image", "cls")
    images = tm.images(5)
    from_pil = vit.encode(images, batch_size=2, progress=False)
    assert from_pil.shape == (5, 32)
    import numpy as np

    assert torch.allclose(vit.encode([np.asarray(im) for im in images], progress=False), from_pil)
    text = Encoder.from_pretrained(tiny["clip"], modality="text")
    image = Encoder.from_pretrained(tiny["clip"], modality="image")
    assert text.dim == image.dim == 16 and text.ref.pooling == "pooler"
    from transformers import CLIPModel

    clip = CLIPModel.from_pretrained(tiny["clip"]).eval()
    with torch.no_grad():
        tokens = AutoTokenizer.from_pretrained(tiny["clip"])(["the cat"], return_tensors="pt")
        expected = clip.get_text_features(input_ids=tokens["input_ids"], attention_mask=tokens["attention_mask"])
    expected = expected if isinstance(expected, torch.Tensor) else expected.pooler_output
    assert torch.allclose(text.encode(["the cat"], progress=False), expected, atol=1e-5)


def test_local_folder_is_pinned_by_content_hash(tiny, tmp_path):
    a = Encoder.from_pretrained(tiny["bert"])
    copy = shutil.copytree(tiny["bert"], tmp_path / "copy")
    assert Encoder.from_pretrained(copy).ref.revision == a.ref.revision
    assert a.ref.revision.startswith("sha256:")
    (copy / "config.json").write_text((copy / "config.json").read_text().replace("\n", "\n\n"))
    assert Encoder.from_pretrained(copy).ref.revision != a.ref.revision


def test_hub_id_resolves_offline_from_a_seeded_cache_to_its_commit(tiny, tmp_path):
    commit = "1234567890abcdef1234567890abcdef12345678"
    seed_hub_cache(tiny["bert"], "tiny-org/tiny-bert", tmp_path / "hub", commit)
    code = ("from hubstitch import Encoder\n"
            "e = Encoder.from_pretrained('tiny-org/tiny-bert')\n"
            "f = Encoder.from_pretrained('tiny-org/tiny-bert@main')\n"
            "print(e.ref.model_id, e.ref.revision, f.ref.revision)\n")
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_HUB_CACHE": str(tmp_path / "hub"),
           "HF_ENDPOINT": "http://127.0.0.1:9"}  # nothing listens there: a network call would fail
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=300)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["tiny-org/tiny-bert", commit, commit]


def test_checkpoint_without_tokenizer_files_is_refused(tiny, tmp_path):
    folder = shutil.copytree(tiny["bert"], tmp_path / "no-tokenizer")
    for name in ("tokenizer.json", "vocab.txt", "tokenizer_config.json", "special_tokens_map.json"):
        (folder / name).unlink(missing_ok=True)
    with pytest.raises(EncoderError, match="no tokenizer files.*silently build a useless tokenizer"):
        Encoder.from_pretrained(folder)


def test_pickle_only_checkpoint_is_refused(tiny, tmp_path):
    folder = shutil.copytree(tiny["bert"], tmp_path / "pickled")
    (folder / "model.safetensors").rename(folder / "pytorch_model.bin")
    with pytest.raises(OSError):
        Encoder.from_pretrained(folder)


@pytest.mark.parametrize("kwargs,message", [
    ({"modality": "image"}, "is a text model .*modality='image'"),
    ({"pooling": "attention"}, "pooling 'attention' is not known"),
    ({"layer": 7}, "layer=7 but .* has 2 layers"),
    ({"pooling": "pooler", "layer": 1}, "pooled output exists for the last layer only"),
])
def test_impossible_requests_are_refused(tiny, kwargs, message):
    with pytest.raises((EncoderError, UnknownMethodError), match=message):
        Encoder.from_pretrained(tiny["bert"], **kwargs)


def test_dual_encoder_needs_a_modality_and_gives_pooled_embeddings_only(tiny):
    with pytest.raises(EncoderError, match="dual encoder .*modality='text' or 'image'"):
        Encoder.from_pretrained(tiny["clip"])
    with pytest.raises(EncoderError, match="pooling 'mean' is not available"):
        Encoder.from_pretrained(tiny["clip"], modality="text", pooling="mean")
    with pytest.raises(EncoderError, match="no pooler layer"):
        Encoder.from_pretrained(tiny["distilbert"], pooling="pooler")


def test_wrong_items_are_refused(tiny):
    text = Encoder.from_pretrained(tiny["bert"])
    with pytest.raises(EncoderError, match="item 1 is a Image; expected a string"):
        text.encode(["fine", tm.images(1)[0]], progress=False)
    with pytest.raises(EncoderError, match="no items to encode"):
        text.encode([], progress=False)
    vit = Encoder.from_pretrained(tiny["vit"])
    with pytest.raises(EncoderError, match="item 0 .* is not a readable image"):
        vit.encode(["a caption, not an image path"], progress=False)


def test_pool_handles_left_padding():
    states = torch.arange(2 * 3 * 2, dtype=torch.float32).reshape(2, 3, 2)
    left = torch.tensor([[0, 1, 1], [1, 1, 1]])
    assert torch.equal(pool(states, left, "lasttoken"), states[:, -1])


def test_sentence_transformers_layout_is_read_and_unsafe_paths_refused(tiny, tmp_path):
    import json

    folder = shutil.copytree(tiny["bert"], tmp_path / "st")
    (folder / "1_Pooling").mkdir()
    (folder / "1_Pooling" / "config.json").write_text(json.dumps({"pooling_mode_cls_token": True}))
    modules = [{"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
               {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"},
               {"idx": 2, "name": "2", "path": "2_Normalize", "type": "sentence_transformers.models.Normalize"}]
    (folder / "modules.json").write_text(json.dumps(modules))
    (folder / "sentence_bert_config.json").write_text(json.dumps({"max_seq_length": 4}))
    encoder = Encoder.from_pretrained(folder)
    assert (encoder.ref.pooling, encoder.ref.normalization, encoder.max_length) == ("cls", "l2", 4)
    latents = encoder.encode(tm.TEXTS, progress=False)
    assert torch.allclose(latents.norm(dim=1), torch.ones(len(tm.TEXTS)))
    modules[1]["path"] = "../../etc"
    (folder / "modules.json").write_text(json.dumps(modules))
    with pytest.raises(EncoderError, match="leaves the checkpoint folder"):
        Encoder.from_pretrained(folder)
    modules[1] = {"idx": 1, "name": "1", "path": "1_Dense", "type": "sentence_transformers.models.Dense"}
    (folder / "modules.json").write_text(json.dumps(modules))
    with pytest.raises(EncoderError, match="modules.json lists 'sentence_transformers.models.Dense'"):
        Encoder.from_pretrained(folder)


def test_encoder_specs_on_the_command_line(tmp_path):
    from hubstitch.cli.common import parse_encoder_spec

    assert parse_encoder_spec("org/clip@v1.0:image") == ("org/clip", "v1.0", "image")
    assert parse_encoder_spec("org/model") == ("org/model", None, None)
    assert parse_encoder_spec("org/model:text") == ("org/model", None, "text")
    assert parse_encoder_spec(str(tmp_path)) == (str(tmp_path), None, None)


@pytest.mark.slow
def test_loading_a_classifier_as_an_encoder_prints_no_load_report(tiny):
    """transformers reports the classifier a base model drops as UNEXPECTED keys: dropped on purpose, so silenced at
    that call, and only there (fresh processes: transformers says it once per process)."""
    import subprocess
    import sys

    def stderr_of(code: str) -> str:
        run = subprocess.run([sys.executable, "-c", code, str(tiny["bert-cls"])], capture_output=True, text=True,
                             timeout=300)
        assert run.returncode == 0, run.stderr
        return run.stderr

    ours = stderr_of("import sys\nfrom transformers.utils import logging as tl\nfrom hubstitch import Encoder\n"
                     "before = tl.get_verbosity()\nEncoder.from_pretrained(sys.argv[1])\n"
                     "assert tl.get_verbosity() == before\n")
    assert "UNEXPECTED" not in ours and "LOAD REPORT" not in ours
    plain = stderr_of("import sys\nfrom transformers import AutoModel\nAutoModel.from_pretrained(sys.argv[1])\n")
    assert "UNEXPECTED" in plain  # the same load outside hubstitch does report it


def test_texts_that_would_embed_wrongly_are_refused(tiny):
    text = Encoder.from_pretrained(tiny["bert"])
    for empty in ("", "   ", "\n"):  # every empty text gets one and the same vector: fit said "cosine 1.0"
        with pytest.raises(EncoderError, match=r"item 1 is an empty string .*fix: drop the empty rows"):
            text.encode(["fine", empty], progress=False)
    with pytest.raises(EncoderError, match=r"look like file paths of images or audio \(item 0: 'img/0.png'\)"):
        text.encode([f"img/{i}.png" for i in range(5)], progress=False)
    assert text.encode(["the file is img/0.png", "img/1.png"], progress=False).shape == (2, 32)  # texts mention paths


def test_image_arrays_are_checked_and_float_images_scaled(tiny):
    vit = Encoder.from_pretrained(tiny["vit"])
    pixels = np.asarray(tm.images(1)[0])
    for bad, message in [(np.full((8, 8, 3), np.nan), "NaN or infinite pixel values"),
                         (np.zeros((0, 8, 3), dtype=np.uint8), r"shape \(0, 8, 3\).*expected a non-empty"),
                         (pixels.astype(np.float32) * 4, r"pixel values from .* expected \[0, 255\]"),
                         (np.zeros((3, 8, 8), dtype=np.uint8), r"shape \(3, 8, 8\).*channels last")]:
        with pytest.raises(EncoderError, match=message):
            vit.encode([bad], progress=False)
    as_uint8 = vit.encode([pixels], progress=False)
    as_unit_float = vit.encode([pixels.astype(np.float32) / 255.0], progress=False)  # once cast to a black image
    assert torch.allclose(as_uint8, as_unit_float, atol=1e-5)
