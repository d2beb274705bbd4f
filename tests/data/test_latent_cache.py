"""The latent cache: keys, reuse, atomic writes, listing and clearing."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pytest
import torch

from hubstitch.data.latent_cache import LatentCache
from hubstitch.spaces import LatentSpaceRef

REF = LatentSpaceRef("org/model", "a" * 40, "text", "mean", -1, 4)


def test_keys_separate_everything_that_changes_the_latents(tmp_path):
    cache = LatentCache(tmp_path)
    cache.put(REF, "fp", "text", [0, 1, 2], torch.ones(3, 4))
    assert cache.get(REF, "fp", "text", [0, 1, 2]) is not None
    variants = [(LatentSpaceRef("org/model", "b" * 40, "text", "mean", -1, 4), "fp", "text", [0, 1, 2]),
                (LatentSpaceRef("org/model", "a" * 40, "text", "cls", -1, 4), "fp", "text", [0, 1, 2]),
                (LatentSpaceRef("org/model", "a" * 40, "text", "mean", 3, 4), "fp", "text", [0, 1, 2]),
                (REF, "other-fp", "text", [0, 1, 2]), (REF, "fp", "caption", [0, 1, 2]),
                (REF, "fp", "text", [2, 1, 0])]
    for variant in variants:
        assert cache.get(*variant) is None, variant
    assert cache.get(REF, "fp", "text", [0, 1, 2], max_length=128) is None  # another truncation, another latent
    cache.put(REF, "fp", "text", [0, 1, 2], torch.zeros(3, 4), max_length=128)
    assert cache.get(REF, "fp", "text", [0, 1, 2], max_length=128).sum() == 0
    assert cache.get(REF, "fp", "text", [0, 1, 2], max_length=512) is None
    assert cache.get(REF, "fp", "text", [0, 1, 2]).sum() == 12  # the entry without a max_length is untouched
    assert cache.get(LatentSpaceRef("org/model", None, "text", "mean", -1, 4), "fp", "text", [0, 1, 2]) is None


def test_get_or_encode_encodes_once(tmp_path):
    cache, calls = LatentCache(tmp_path), []

    def encode():
        calls.append(1)
        return torch.randn(2, 4)

    first = cache.get_or_encode(REF, "fp", "text", [5, 6], encode)
    second = cache.get_or_encode(REF, "fp", "text", [5, 6], encode)
    assert torch.equal(first, second) and len(calls) == 1


def test_a_killed_write_leaves_no_entry(tmp_path):
    """A process killed while writing leaves at most a .tmp file, never a corrupt entry, and clear removes it."""
    code = textwrap.dedent(f"""
        import os, torch, safetensors.torch as st
        from hubstitch.data.latent_cache import LatentCache
        from hubstitch.spaces import LatentSpaceRef
        real = st.save_file
        def dying(tensors, path, metadata=None):
            real(tensors, path, metadata=metadata)
            os._exit(9)  # killed after writing the temporary file, before the rename
        import hubstitch.data.latent_cache as lc
        lc.save_file = dying
        LatentCache({str(tmp_path)!r}).put(LatentSpaceRef("org/model", "a" * 40, "text", "mean", -1, 4),
                                           "fp", "text", [0], torch.ones(1, 4))
    """)
    assert subprocess.run([sys.executable, "-c", code]).returncode == 9
    cache = LatentCache(tmp_path)
    assert cache.entries() == [] and cache.get(REF, "fp", "text", [0]) is None
    assert len(list(cache.folder.glob("*.tmp"))) == 1
    cache.clear()
    assert list(cache.folder.glob("*")) == []


def test_unreadable_entry_is_a_miss_and_is_replaced(tmp_path):
    cache = LatentCache(tmp_path)
    cache.put(REF, "fp", "text", [0], torch.ones(1, 4))
    path = cache.path_for(cache.describe(REF, "fp", "text", [0]))
    path.write_bytes(b"garbage")
    assert cache.get(REF, "fp", "text", [0]) is None
    cache.put(REF, "fp", "text", [0], torch.zeros(1, 4))
    assert torch.equal(cache.get(REF, "fp", "text", [0]), torch.zeros(1, 4))


@pytest.mark.slow
def test_cli_ls_and_clear_with_environment_override(tmp_path):
    cache = LatentCache(tmp_path)
    cache.put(REF, "fp", "text", [0, 1], torch.ones(2, 4))
    cache.put(LatentSpaceRef("org/other", "b" * 40, "text", "cls", -1, 4), "fp", "text", [0], torch.ones(1, 4))
    env = {**os.environ, "HUBSTITCH_CACHE": str(tmp_path)}

    def run(*args):
        return subprocess.run([sys.executable, "-m", "hubstitch.cli", "cache", *args], capture_output=True,
                              text=True, env=env, timeout=120)

    listing = run("ls")
    assert listing.returncode == 0 and "org/model" in listing.stdout and "org/other" in listing.stdout
    entries = {e["model_id"]: e for e in json.loads(run("ls", "--format", "json", "-q").stdout)}
    assert entries["org/model"]["n"] == 2 and entries["org/model"]["dim"] == 4 and entries["org/model"]["layer"] == -1
    assert isinstance(entries["org/model"]["bytes"], int)  # numbers, not strings
    assert run("clear", "--model", "org/other").returncode == 0
    assert "org/other" not in run("ls").stdout and "org/model" in run("ls").stdout
    assert '"removed": 1' in run("clear", "--format", "json").stdout
    assert run("ls").stdout == ""


def test_an_encoder_truncating_otherwise_is_not_served_another_truncations_latents(tiny, tmp_path):
    """`encoder.max_length = 8` after an encode at the model's own limit: the cache must not hand back the long
    latents (it did: max_length was not in the key)."""
    from hubstitch.data.anchors import AnchorSet
    from hubstitch.data.encoding import encode_set
    from hubstitch.encoders.encoder import Encoder

    words = " ".join(f"word{i}" for i in range(40))
    (tmp_path / "d.csv").write_text("text\n" + "".join(f"{i} {words}\n" for i in range(6)))
    anchors = AnchorSet.load(str(tmp_path / "d.csv"), source_column="text")
    encoder = Encoder.from_pretrained(tiny["bert"])
    encoder.ref.revision = "c" * 40  # a local folder has no commit; the cache keys only pinned encoders
    cache = LatentCache(tmp_path / "cache")
    long = encode_set(encoder, anchors, "source", cache, progress=False)
    encoder.max_length = 8
    short = encode_set(encoder, anchors, "source", cache, progress=False)
    assert torch.allclose(short, encoder.encode(anchors.source_items(), progress=False), atol=1e-6)
    assert not torch.allclose(short, long, atol=1e-3)
    assert torch.equal(encode_set(encoder, anchors, "source", cache, progress=False), short)  # now a hit
    assert len(cache.entries()) == 2
