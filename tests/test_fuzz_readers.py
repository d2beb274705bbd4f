"""Every reader of outside data, fuzzed with hypothesis: translator and head configs, pipeline manifests,
safetensors files, .npy files and anchor files. Each generated case ends in a correct result or in a
`hubstitch.errors.HubstitchError`; never another exception, never a hang, never a read outside the artifact.

CI runs ``HUBSTITCH_FUZZ_EXAMPLES`` cases per file-reading fuzzer (default 60) and ``HUBSTITCH_FUZZ_CONFIG_EXAMPLES``
per in-memory one (default 4,000: the translator and head configs, two cases each, and index table metadata), over
10,000 cases in all; the deep run is ``HUBSTITCH_FUZZ_EXAMPLES=2000 python3 -m pytest tests/test_fuzz_readers.py``.
"""

from __future__ import annotations

import copy
import json
import os
import struct
from pathlib import Path

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import hubstitch
from hubstitch.errors import HubstitchError

EXAMPLES = int(os.environ.get("HUBSTITCH_FUZZ_EXAMPLES", "60"))
FUZZ = settings(max_examples=EXAMPLES, deadline=None, derandomize=False,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
CONFIG_EXAMPLES = int(os.environ.get("HUBSTITCH_FUZZ_CONFIG_EXAMPLES", "4000"))
FUZZ_MANY = settings(FUZZ, max_examples=CONFIG_EXAMPLES)

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-2**40, 2**40) | st.floats(allow_nan=True) | st.text(max_size=12),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12)


def _paths(value):
    """Every (parent, key) of a nested JSON value, to pick a place to damage."""
    if isinstance(value, dict):
        for key, child in value.items():
            yield value, key
            yield from _paths(child)
    elif isinstance(value, list):
        for index, child in enumerate(value):
            yield value, index
            yield from _paths(child)


def _mutate(document, data) -> object:
    """The document with one to three places replaced by arbitrary JSON, deleted, or a key added."""
    document = copy.deepcopy(document)
    for _ in range(data.draw(st.integers(1, 3))):
        places = list(_paths(document))
        if not places:
            return data.draw(json_values)
        parent, key = data.draw(st.sampled_from(places))
        action = data.draw(st.sampled_from(["replace", "delete", "add"]))
        if action == "delete" and isinstance(parent, dict):
            del parent[key]
        elif action == "add" and isinstance(parent, dict):
            parent[data.draw(st.text(max_size=8))] = data.draw(json_values)
        else:
            parent[key] = data.draw(json_values)
    return document


@pytest.fixture(scope="module")
def artifacts(tmp_path_factory, tiny):
    """A saved translator, head and pipeline to damage copies of."""
    from hubstitch import ClassifierHead, Encoder, StitchedPipeline

    root = tmp_path_factory.mktemp("fuzz-artifacts")
    gen = torch.Generator().manual_seed(0)
    encoder = Encoder.from_pretrained(tiny["bert"])
    x = torch.randn(80, encoder.dim, generator=gen)
    translator = hubstitch.fit_translator(x, x @ torch.randn(encoder.dim, encoder.dim, generator=gen),
                                          method="linear", source_ref=encoder.ref, target_ref=encoder.ref,
                                          holdout=0.2)
    head = ClassifierHead.fit(x, ["a", "b"] * 40, encoder=encoder.ref)
    translator.save_pretrained(root / "translator")
    head.save_pretrained(root / "head")
    StitchedPipeline(encoder, translator, head).save_pretrained(root / "pipeline")
    return root


def _expect_typed(call):
    try:
        return call()
    except HubstitchError:
        return None


@FUZZ_MANY
@given(data=st.data())
def test_translator_and_head_configs(artifacts, data):
    from hubstitch.heads.config import HeadConfig
    from hubstitch.translators.config import TranslatorConfig

    for name, reader in (("translator", TranslatorConfig.from_dict), ("head", HeadConfig.from_dict)):
        document = json.loads((artifacts / name / "config.json").read_text())
        _expect_typed(lambda: reader(_mutate(document, data), origin=f"fuzzed {name}"))


@FUZZ
@given(data=st.data())
def test_pipeline_manifests(artifacts, tmp_path_factory, data):
    from hubstitch.pipelines.pipeline import _read_manifest, check_manifest

    folder = tmp_path_factory.mktemp("manifest")
    for stage in ("translator", "head"):
        (folder / stage).symlink_to(artifacts / "pipeline" / stage)  # the real stages, linked (must be refused too)
    manifest = json.loads((artifacts / "pipeline" / "config.json").read_text())
    (folder / "config.json").write_text(json.dumps(_mutate(manifest, data)))

    def read():
        root, checked = _read_manifest(folder, None, True)
        check_manifest(root, checked, local_files_only=True)

    _expect_typed(read)


def _safetensors_bytes(header: object, body: bytes) -> bytes:
    raw = json.dumps(header).encode()
    return struct.pack("<Q", len(raw)) + raw + body


@FUZZ
@given(data=st.data())
def test_translator_weights_files(artifacts, tmp_path_factory, data):
    from hubstitch import Translator

    folder = tmp_path_factory.mktemp("weights")
    (folder / "config.json").write_text((artifacts / "translator" / "config.json").read_text())
    original = (artifacts / "translator" / "model.safetensors").read_bytes()
    size = struct.unpack("<Q", original[:8])[0]
    header, body = json.loads(original[8:8 + size]), original[8 + size:]
    kind = data.draw(st.sampled_from(["header", "bytes", "truncate"]))
    if kind == "header":
        content = _safetensors_bytes(_mutate(header, data), body)
    elif kind == "bytes":
        content = data.draw(st.binary(max_size=512))
    else:
        content = original[: data.draw(st.integers(0, len(original) - 1))]
    (folder / "model.safetensors").write_bytes(content)
    result = _expect_typed(lambda: Translator.from_pretrained(folder))
    if result is not None:  # what loads must compute finite outputs
        assert bool(torch.isfinite(result(torch.randn(3, result.config.source.dim))).all())


@FUZZ
@given(content=st.binary(max_size=300), prefix=st.sampled_from([b"", b"\x93NUMPY\x01\x00"]))
def test_npy_files(tmp_path_factory, content, prefix):
    from hubstitch.cli.common import load_latents
    from hubstitch.math.validation import as_latents

    path = tmp_path_factory.mktemp("npy") / "x.npy"
    path.write_bytes(prefix + content)
    _expect_typed(lambda: as_latents(load_latents(str(path)), "source"))


@FUZZ
@given(lines=st.lists(json_values.map(json.dumps) | st.text(max_size=40), max_size=6),
       suffix=st.sampled_from([".jsonl", ".csv"]))
def test_anchor_files(tmp_path_factory, lines, suffix):
    from hubstitch import AnchorSet

    path = tmp_path_factory.mktemp("anchors") / f"anchors{suffix}"
    path.write_text("\n".join(lines) + "\n")

    def read():
        anchors = AnchorSet.load(str(path), source_column="text")
        return anchors.source_items()

    _expect_typed(read)


@FUZZ_MANY
@given(data=st.data())
def test_index_table_metadata(data):
    """What `read_space` reads from a LanceDB table's schema: a migrated table's record, damaged; or raw bytes."""
    import pyarrow as pa

    from hubstitch.index.stream import METADATA_KEY, read_space, space_metadata
    from hubstitch.spaces import LatentSpaceRef

    a = LatentSpaceRef("org/a", "a" * 40, "text", "mean", -1, 384, "l2")
    record = json.loads(space_metadata(a, migrated_from={"table": "news", "space": {"model_id": "org/b"}},
                                       translator={"source": "org/b", "method": "linear", "origin": [],
                                                   "unverified": []})[METADATA_KEY])
    raw = (json.dumps(_mutate(record, data)).encode() if data.draw(st.booleans())
           else data.draw(st.binary(max_size=200)))
    schema = pa.schema([pa.field("id", pa.string())], metadata={METADATA_KEY: raw})
    result = _expect_typed(lambda: read_space(schema, "fuzzed table"))
    if result is not None:
        space, _ = result
        assert isinstance(space.dim, int) and space.dim > 0


def test_the_fuzzed_readers_never_left_their_folder(artifacts):
    """The manifest cases linked real stages in from outside: none of them may have been read (checked above by
    the refusal); here, the stage files are still intact after all the damage to copies."""
    assert json.loads((artifacts / "translator" / "config.json").read_text())["method"] == "linear"
    assert Path(artifacts / "pipeline" / "config.json").is_file()
