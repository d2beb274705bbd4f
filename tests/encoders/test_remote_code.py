"""A checkpoint with its own modelling code: loaded only when the caller trusts it, and then with its code."""

from __future__ import annotations

import json

import pytest
import tiny_models as tm
from huggingface_hub import HfApi

from hubstitch import Encoder

CONFIGURATION = '''from transformers import BertConfig


class CustomConfig(BertConfig):
    model_type = "hubstitch-test-bert"
'''
MODELING = '''from transformers import BertModel

from .configuration_custom import CustomConfig


class CustomModel(BertModel):
    config_class = CustomConfig
'''


@pytest.fixture
def custom_repo(loopback_hub, tmp_path):
    folder = tm.text_model(tmp_path / "custom", "bert")
    config = json.loads((folder / "config.json").read_text())
    config.update(model_type="hubstitch-test-bert", architectures=["CustomModel"],
                  auto_map={"AutoConfig": "configuration_custom.CustomConfig",
                            "AutoModel": "modeling_custom.CustomModel"})
    (folder / "config.json").write_text(json.dumps(config))
    (folder / "configuration_custom.py").write_text(CONFIGURATION)
    (folder / "modeling_custom.py").write_text(MODELING)
    HfApi().create_repo("tester/custom-code")
    HfApi().upload_folder(repo_id="tester/custom-code", folder_path=str(folder))
    return "tester/custom-code"


def test_remote_code_is_downloaded_and_run_only_when_trusted(custom_repo):
    encoder = Encoder.from_pretrained(custom_repo, trust_remote_code=True)
    assert type(encoder.model).__name__ == "CustomModel" and encoder.family == "hubstitch-test-bert"
    assert (encoder.folder / "modeling_custom.py").is_file()
    assert encoder.encode("hello world", progress=False).shape == (1, 32)
    with pytest.raises(ValueError, match="trust_remote_code"):
        Encoder.from_pretrained(custom_repo)  # transformers refuses; hubstitch never trusts on its own


def test_a_single_item_gives_one_row(tiny):
    encoder = Encoder.from_pretrained(tiny["bert"])
    assert encoder.encode("hello", progress=False).shape == (1, 32)
    assert encoder.encode(["hello"], progress=False).shape == (1, 32)
    assert encoder.encode(("hello", "world"), progress=False).shape == (2, 32)
