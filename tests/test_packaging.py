"""What a user gets from the package index: the license, every test helper in the sdist, the card templates and
demo assets in the wheel, a README whose picture resolves there, and a .gitignore that covers the quick start."""

from __future__ import annotations

import tarfile
import tomllib
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_the_sdist_carries_the_tests_and_their_helpers(built_dist):
    with tarfile.open(built_dist["sdist"]) as sdist:
        names = {name.split("/", 1)[1] for name in sdist.getnames() if "/" in name}
    for helper in ("conftest.py", "helpers.py", "hub_server.py", "tiny_models.py", "mobilenet_reference.py"):
        assert f"tests/{helper}" in names, helper
    assert {"LICENSE", "README.md", "pyproject.toml", "model_cards/translator.md"} <= names
    assert sum(n.startswith("tests/") and n.endswith(".py") for n in names) >= 30
    assert not any("results/raw" in n for n in names)


def test_the_wheel_carries_templates_assets_and_the_license(built_dist):
    with zipfile.ZipFile(built_dist["wheel"]) as wheel:
        names = set(wheel.namelist())
        metadata = next(wheel.read(n).decode() for n in names if n.endswith("METADATA"))
    assert {"hubstitch/model_cards/translator.md", "hubstitch/model_cards/sentence_transformers.md",
            "hubstitch/demo/assets/bench_stitching.json", "hubstitch/index/lancedb_store.py"} <= names
    assert any(n.endswith("licenses/LICENSE") for n in names)
    assert "License-Expression: Apache-2.0" in metadata and "Project-URL: Homepage" in metadata


def test_readme_links_resolve_off_the_repository_and_gitignore_covers_the_quick_start():
    readme = (ROOT / "README.md").read_text()
    images = [line for line in readme.splitlines() if line.startswith("![")]
    assert images and all("](https://" in line for line in images)
    ignored = (ROOT / ".gitignore").read_text().splitlines()
    assert {"hubstitch-quickstart/", "quickstart-pipeline/", "my-translator/"} <= set(ignored)
    assert tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["license-files"] == ["LICENSE"]
    assert (ROOT / "LICENSE").read_text().lstrip().startswith("Apache License")
