"""Bad inputs and damaged artifacts end in a typed hubstitch error that says what and why, never in a silent wrong
result, a read outside the artifact, or a blow-up of memory or time."""

from __future__ import annotations

import json
import os
import re
import resource
import subprocess
import sys

import numpy as np
import pytest
import torch
from helpers import random_rotation
from PIL import Image
from safetensors.torch import load_file, save_file

import hubstitch
from hubstitch import Encoder, StitchedPipeline, Translator
from hubstitch.errors import ArtifactError, HubstitchError, HubstitchValueError, LatentsError, UnknownMethodError


def _saved(gen, folder, method="linear", **options):
    x = torch.randn(200, 8, generator=gen)
    translator = hubstitch.fit_translator(x, x @ torch.randn(8, 6, generator=gen), method=method, **options)
    translator.save_pretrained(folder)
    return translator


# --- silent wrong results ------------------------------------------------------------------------------------
def test_non_finite_options_and_parameters_are_refused(gen, tmp_path):
    x = torch.randn(100, 8, generator=gen)
    for alpha in (float("inf"), float("nan"), -1.0):
        with pytest.raises(UnknownMethodError, match="alpha="):
            hubstitch.fit_translator(x, x, method="linear", alpha=alpha)
    with pytest.raises(UnknownMethodError, match="hidden_dim=-1"):
        hubstitch.fit_translator(x, x, method="mlp", hidden_dim=-1)
    with pytest.raises(UnknownMethodError, match="batch_size=0"):
        hubstitch.fit_translator(x, x, method="mlp", batch_size=0)
    with pytest.raises(UnknownMethodError, match="folds=0"):
        hubstitch.fit_translator(x, x, method="auto", folds=0)
    _saved(gen, tmp_path)
    tensors = load_file(str(tmp_path / "model.safetensors"))
    tensors["translation.map.weight"][0, 0] = float("nan")
    save_file(tensors, str(tmp_path / "model.safetensors"))
    with pytest.raises(ArtifactError, match=r"'translation.map.weight' holds NaN or infinite values"):
        Translator.from_pretrained(tmp_path)


@pytest.mark.parametrize("change,message", [
    (lambda c: c.pop("options"), "field 'options' is missing"),
    (lambda c: c.update(n_anchors="200"), "field 'n_anchors' is '200'"),
    (lambda c: c.update(source_active_dim=99), r"field 'source_active_dim' is 99; expected an integer in \[1, 8\]"),
    (lambda c: c["source"].update(dim=-3), "field 'dim' is -3"),
    (lambda c: c["options"].update(alpha="big"), "field 'options' is not valid for 'linear'"),
    (lambda c: c["source"].update(model_id="a\0b"), "field 'model_id'"),
    (lambda c: c.update(format_version="2"), "format_version '2'"),
])
def test_configs_are_checked_field_by_field(gen, tmp_path, change, message):
    _saved(gen, tmp_path)
    config = json.loads((tmp_path / "config.json").read_text())
    change(config)
    (tmp_path / "config.json").write_text(json.dumps(config))
    with pytest.raises(ArtifactError, match=message):
        Translator.from_pretrained(tmp_path)


def test_a_config_claiming_huge_widths_is_refused_before_allocating(gen, tmp_path):
    _saved(gen, tmp_path, method="orthogonal")
    config = json.loads((tmp_path / "config.json").read_text())
    for side in ("source", "target"):
        config[side]["dim"] = config[f"{side}_active_dim"] = 20000  # a 20000 x 20000 rotation: 1.6 GB
    (tmp_path / "config.json").write_text(json.dumps(config))
    # VmHWM is this process's own peak: ru_maxrss would inherit the (large) pytest parent's across fork + exec.
    code = ("import re, sys\nfrom hubstitch import Translator\nfrom hubstitch.errors import ArtifactError\n"
            "try:\n    Translator.from_pretrained(sys.argv[1])\nexcept ArtifactError as err:\n    print(err)\n"
            "status = open('/proc/self/status').read()\n"
            "print(int(re.search(r'VmHWM:\\s+(\\d+) kB', status).group(1)) // 1024)\n")
    run = subprocess.run([sys.executable, "-c", code, str(tmp_path)], capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    message, peak_mib = run.stdout.strip().splitlines()
    assert "the config implies (20000" in message
    assert int(peak_mib) < 1200, peak_mib  # torch itself, not the 1.6 GB the config asked for


# --- reading outside the artifact ------------------------------------------------------------------------------
def test_links_out_of_an_artifact_folder_are_refused(gen, tmp_path):
    outside = tmp_path / "elsewhere"
    _saved(gen, outside)
    folder = tmp_path / "artifact"
    folder.mkdir()
    (folder / "config.json").symlink_to(outside / "config.json")
    (folder / "model.safetensors").symlink_to(outside / "model.safetensors")
    with pytest.raises(ArtifactError, match="leads outside its artifact folder"):
        Translator.from_pretrained(folder)


def test_pipeline_stages_that_link_out_are_refused(tiny, gen, tmp_path):
    from hubstitch import ClassifierHead

    encoder = Encoder.from_pretrained(tiny["bert"])
    x = torch.randn(60, encoder.dim, generator=gen)
    translator = hubstitch.fit_translator(x, x, method="orthogonal", source_ref=encoder.ref, target_ref=encoder.ref)
    head = ClassifierHead.fit(x, ["a", "b"] * 30, encoder=encoder.ref)
    StitchedPipeline(encoder, translator, head).save_pretrained(tmp_path / "pipe")
    (tmp_path / "pipe" / "translator").rename(tmp_path / "stolen")
    (tmp_path / "pipe" / "translator").symlink_to(tmp_path / "stolen")
    with pytest.raises(ArtifactError, match="leads outside its artifact folder"):
        StitchedPipeline.from_pretrained(tmp_path / "pipe")


@pytest.mark.parametrize("change,message", [
    (lambda m: m.update(stages={"role": "encoder"}), "field 'stages' is"),
    (lambda m: m["stages"][0].update(path="encoder"), "the encoder stage has a path"),
    (lambda m: m["stages"][1].update(path="trans\0lator"), "stage field 'path'"),
    (lambda m: m["stages"][1].update(model_id="/etc", path=None), "names '/etc'; expected a Hub id"),
    (lambda m: m["stages"][1].update(path="../../etc"), "expected a relative subfolder"),
    (lambda m: m["stages"].append("oops"), "a stage is a str"),
    (lambda m: m.update(metrics=[1, 2]), "field 'metrics' is a list; expected an object"),
    (lambda m: m.update(metrics={"accuracy": "high"}), "field 'metrics.accuracy' is 'high'"),
    (lambda m: m.update(metrics={"accuracy": 3.5}), r"field 'metrics.accuracy' is 3.5; expected a number in \[0, 1\]"),
    (lambda m: m.update(metrics={"n": -1}), "field 'metrics.n' is -1"),
    (lambda m: m.update(metrics={"dataset": {"id": 1}}), "field 'metrics.dataset'"),
])
def test_malformed_manifests_are_refused(tiny, gen, tmp_path, change, message):
    from hubstitch import ClassifierHead

    encoder = Encoder.from_pretrained(tiny["bert"])
    x = torch.randn(60, encoder.dim, generator=gen)
    translator = hubstitch.fit_translator(x, x, method="orthogonal", source_ref=encoder.ref, target_ref=encoder.ref)
    StitchedPipeline(encoder, translator, ClassifierHead.fit(x, ["a", "b"] * 30, encoder=encoder.ref)
                     ).save_pretrained(tmp_path / "pipe")
    manifest = json.loads((tmp_path / "pipe" / "config.json").read_text())
    change(manifest)
    (tmp_path / "pipe" / "config.json").write_text(json.dumps(manifest))
    with pytest.raises(ArtifactError, match=message):
        StitchedPipeline.from_pretrained(tmp_path / "pipe")
    with pytest.raises(ArtifactError, match="not an existing folder, nor a Hub repo id"):
        StitchedPipeline.from_pretrained(tmp_path / "no" / "such" / "pipe")


# --- resources -------------------------------------------------------------------------------------------------
def test_a_wide_padded_fit_on_few_anchors_uses_the_small_block(gen):
    x = torch.randn(20, 384, generator=gen, dtype=torch.float64)
    q = random_rotation(4096, gen)[:384]  # 384 orthonormal rows of a 4096-d rotation
    translator = hubstitch.fit_translator(x, x @ q, method="orthogonal")
    assert torch.allclose(translator(x), x @ q, atol=1e-8)
    rotation = translator.translation.map.rotation
    assert rotation.shape == (4096, 4096) and not bool(rotation[384:].any())  # padded rows never used, never solved


def test_a_folder_that_is_no_checkpoint_is_refused_without_hashing_it():
    with pytest.raises(HubstitchValueError, match="without config.json or modules.json"):
        Encoder.from_pretrained("/usr")


def test_huge_images_are_refused_before_decoding(tiny, tmp_path):
    Image.new("L", (8000, 8000)).save(tmp_path / "huge.png")  # a small file that decodes to 64 MB (RGB: 192 MB)
    encoder = Encoder.from_pretrained(tiny["vit"])
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    with pytest.raises(HubstitchError, match="8000 x 8000 pixels; the limit is"):
        encoder.encode([str(tmp_path / "huge.png")], progress=False)
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before < 150 * 1024  # KiB: it was never decoded


def test_long_texts_are_truncated_where_the_tokenizer_states_no_limit(tiny):
    encoder = Encoder.from_pretrained(tiny["bert"])
    assert encoder.processor.model_max_length > 10**6 and encoder.max_length == 512
    assert encoder.encode(" ".join(["hello"] * 3000), progress=False).shape == (1, 32)


def test_counts_and_batch_sizes_below_one_are_refused(tiny, tmp_path):
    from hubstitch import AnchorSet, fit_from_encoders

    encoder = Encoder.from_pretrained(tiny["bert"])
    with pytest.raises(HubstitchError, match="batch_size=0"):
        encoder.encode(["hello"], batch_size=0)
    data = tmp_path / "d.jsonl"
    data.write_text("".join(json.dumps({"text": f"hello {w}"}) + "\n" for w in ("cat", "dog", "news") * 10))
    with pytest.raises(HubstitchValueError, match="n=0 anchors"):
        fit_from_encoders(encoder, encoder, AnchorSet.load(str(data), source_column="text"), n=0)


@pytest.mark.parametrize("content,message", [("", "is empty"), ("{not json\n", "could not be read as JSON"),
                                             ('{"text": "a"}\n[1, 2]\n', "could not be read as JSON")])
def test_empty_or_broken_anchor_files_are_dataset_errors(tmp_path, content, message):
    from hubstitch import AnchorSet

    (tmp_path / "a.jsonl").write_text(content)
    with pytest.raises(HubstitchValueError, match=message):
        AnchorSet.load(str(tmp_path / "a.jsonl"), source_column="text")


def test_latents_arrays_of_objects_are_never_unpickled(tmp_path):
    from hubstitch.cli.common import load_latents

    np.save(tmp_path / "objects.npy", np.array([os.system], dtype=object), allow_pickle=True)
    with pytest.raises(LatentsError, match="holds pickled Python objects"):
        load_latents(str(tmp_path / "objects.npy"))


def test_auto_says_what_its_search_will_cost_before_spending_it(gen, monkeypatch, caplog):
    """fit-latents 384 -> 4096 with auto on 1,000 rows once ran for over ten minutes without a word."""
    import hubstitch.math.selection as selection

    monkeypatch.setattr(selection, "COST_WARNING_SECONDS", 0.0)  # every search is "expensive" here
    x = torch.randn(60, 6, generator=gen)
    with caplog.at_level("WARNING", logger="hubstitch.math.selection"):
        hubstitch.fit_translator(x, x @ torch.randn(6, 9, generator=gen), method="auto")
    assert re.search(r"auto compares up to \d+ candidates x \d+ folds on 60 x 6 -> 9 latents: up to about \d+ s .*"
                     r"fix: name a method", caplog.text)


def test_a_resave_keeps_the_users_notes_and_warns_before_replacing_a_hand_written_card(gen, tmp_path, caplog):
    from hubstitch.hub.cards import NOTES_MARKER

    translator = _saved(gen, tmp_path / "t")
    readme = tmp_path / "t" / "README.md"
    assert readme.read_text().rstrip().endswith(NOTES_MARKER)
    readme.write_text(readme.read_text() + "\nOur team's notes: use with the March index only.\n")
    translator.save_pretrained(tmp_path / "t")
    assert readme.read_text().count(NOTES_MARKER) == 1 and "use with the March index only" in readme.read_text()
    readme.write_text("# A card written by hand\n")
    with caplog.at_level("WARNING"):
        translator.save_pretrained(tmp_path / "t")
    assert "had no hubstitch notes marker" in caplog.text
