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


TOKENIZATION = '''import os
from pathlib import Path

from transformers import BertTokenizerFast

Path(os.environ["HUBSTITCH_TEST_MARKER"]).write_text("the checkpoint's tokenizer code ran")


class CustomTokenizer(BertTokenizerFast):
    pass
'''
LOAD = '''import sys
from hubstitch import Encoder
try:
    Encoder.from_pretrained(sys.argv[1], trust_remote_code=sys.argv[2] == "trust")
    print("loaded")
except Exception as err:
    print("refused:", type(err).__name__, err)
'''


@pytest.mark.parametrize("trust", [False, True])
def test_a_tokenizer_with_its_own_code_runs_it_only_when_trusted_even_if_stdin_says_yes(tmp_path, trust):
    """transformers asks `[y/N]` on stdin when trust_remote_code is not passed; hubstitch passes it to every loader,
    so a "y" on stdin never runs the checkpoint's code."""
    import os
    import subprocess
    import sys

    folder = tm.text_model(tmp_path / "custom-tokenizer", "bert")
    config = json.loads((folder / "tokenizer_config.json").read_text())
    config["auto_map"] = {"AutoTokenizer": [None, "tokenization_custom.CustomTokenizer"]}
    (folder / "tokenizer_config.json").write_text(json.dumps(config))
    (folder / "tokenization_custom.py").write_text(TOKENIZATION)
    marker = tmp_path / "marker"
    run = subprocess.run([sys.executable, "-c", LOAD, str(folder), "trust" if trust else "no"], input="y\ny\n",
                         capture_output=True, text=True, timeout=300,
                         env={**os.environ, "HUBSTITCH_TEST_MARKER": str(marker)})
    assert marker.exists() is trust, run.stdout + run.stderr  # untrusted: the built-in class, or a refusal
    assert run.stdout.startswith("loaded" if trust else ("loaded", "refused: ValueError")), run.stdout + run.stderr
