"""The Hub round trip against a Hub server on 127.0.0.1, with the real, unpatched huggingface_hub client."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import huggingface_hub
import huggingface_hub.constants as constants
import pytest
import torch
from hub_server import HubServer, point_client_at
from huggingface_hub import CommitInfo, HfApi, snapshot_download
from huggingface_hub.errors import EntryNotFoundError, HfHubHTTPError, RepositoryNotFoundError, RevisionNotFoundError

import hubstitch
from hubstitch import Translator
from hubstitch.hub.client import HubAuthError, HubTransferError, upload_folder

# The huggingface_hub range pyproject.toml pins; a client upgrade must re-run this contract.
TESTED_CLIENTS = ("2.4", "2.5")  # the minor versions the whole suite has passed on (pyproject: >=2.4,<3)
# hubstitch reads the branch head ("info") before uploading: the commit's parent, and what an error compares to
PUSH_ROUTES_LFS = [("POST", "create"), ("GET", "info"), ("POST", "validate-yaml"), ("POST", "preupload"),
                   ("POST", "lfs-batch"), ("PUT", "lfs-upload"), ("POST", "commit")]
PUSH_ROUTES_REGULAR = [("POST", "create"), ("GET", "info"), ("POST", "validate-yaml"), ("POST", "preupload"),
                       ("POST", "commit")]


@pytest.fixture
def hub(monkeypatch, tmp_path):
    server = HubServer(lfs=True).start()
    point_client_at(monkeypatch, tmp_path, server.url)
    yield server
    server.stop()


def _translator(gen, n=300, d=16):
    x = torch.randn(n, d, generator=gen)
    y = x @ torch.linalg.qr(torch.randn(d, d, generator=gen))[0]
    return hubstitch.fit_translator(x, y, method="orthogonal", holdout=0.2, source_ref="org/encoder-a",
                                    target_ref="org/encoder-b"), x


def _unique_routes(hits):
    seen = []
    for hit in hits:
        if hit not in seen:
            seen.append(hit)
    return seen


def test_contract_routes_of_a_push_are_the_ones_we_tested(hub, gen):
    assert huggingface_hub.__version__.startswith(TESTED_CLIENTS), (
        f"huggingface_hub {huggingface_hub.__version__} is outside the tested {TESTED_CLIENTS}: if the rest of the "
        f"suite passes on it, add it here (the routes below are the contract); if not, bound pyproject.toml below it")
    translator, _ = _translator(gen)
    translator.push_to_hub("tester/contract")
    assert _unique_routes(hub.hits) == PUSH_ROUTES_LFS, hub.hits


def test_push_pull_by_branch_tag_and_commit_then_offline(hub, gen, tmp_path, monkeypatch):
    translator, x = _translator(gen)
    info = translator.push_to_hub("tester/roundtrip")
    assert len(info.oid) == 40
    api = HfApi()
    api.create_tag("tester/roundtrip", tag="v1", revision=info.oid)
    api.create_branch("tester/roundtrip", branch="dev", revision=info.oid)
    second, _ = _translator(gen)
    newer = second.push_to_hub("tester/roundtrip", branch="dev")
    assert newer.oid != info.oid
    by_main = Translator.from_pretrained("tester/roundtrip")
    by_tag = Translator.from_pretrained("tester/roundtrip", revision="v1")
    by_commit = Translator.from_pretrained("tester/roundtrip", revision=info.oid)
    by_branch = Translator.from_pretrained("tester/roundtrip", revision="dev")
    for loaded in (by_main, by_tag, by_commit):
        assert torch.equal(loaded(x), translator(x)) and loaded.hub_origin == ("tester/roundtrip", info.oid)
    assert torch.equal(by_branch(x), second(x)) and by_branch.hub_origin[1] == newer.oid
    snapshot = snapshot_download("tester/roundtrip", revision="v1")
    assert sorted(os.listdir(snapshot)) == [".gitattributes", "README.md", "config.json", "model.safetensors"]
    card = open(os.path.join(snapshot, "README.md")).read()
    assert 'Translator.from_pretrained("tester/roundtrip")' in card  # the usage snippet names the repo
    hub.stop()  # the server is gone: the cache alone must serve, with no network call
    code = ("import torch, sys; from hubstitch import Translator\n"
            f"t = Translator.from_pretrained('tester/roundtrip', revision='{info.oid}')\n"
            "print(t.config.method, t.config.source.model_id)\n")
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_HUB_CACHE": constants.HF_HUB_CACHE,
           "HF_ENDPOINT": hub.url}
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=300)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["orthogonal", "org/encoder-a"]


def test_regular_upload_mode_with_xet_enabled(monkeypatch, tmp_path, gen):
    server = HubServer(lfs=False).start()
    try:
        point_client_at(monkeypatch, tmp_path, server.url, xet=True)
        translator, x = _translator(gen)
        info = translator.push_to_hub("tester/regular")
        assert _unique_routes(server.hits) == PUSH_ROUTES_REGULAR
        assert torch.equal(Translator.from_pretrained("tester/regular", revision=info.oid)(x), translator(x))
    finally:
        server.stop()


@pytest.mark.parametrize("mode", ["500", "hang", "drop"])
def test_a_failed_commit_says_what_is_known_leaves_the_folder_intact_and_a_retry_succeeds(hub, gen, tmp_path, mode):
    translator, x = _translator(gen)
    folder = tmp_path / "artifact"
    translator.save_pretrained(folder)
    before = {p.name: p.read_bytes() for p in folder.iterdir()}
    first, _ = _translator(gen)
    first.save_pretrained(tmp_path / "first")
    upload_folder(tmp_path / "first", "tester/faulty")  # a first version, different from the one that fails
    main_before = hub.repos[("model", "tester/faulty")].branches["main"]
    hub.inject("commit", mode, seconds=6)
    start = time.monotonic()
    with pytest.raises(HubTransferError) as info:
        upload_folder(folder, "tester/faulty", commit_message="second")
    message = str(info.value)
    assert str(folder) in message and "fix:" in message
    if mode == "500":  # the Hub answered: it did not commit
        assert "no commit was made" in message and "500" in message
    else:  # the connection failed mid-commit: the outcome is unknown, and the message says so with the old head
        assert "whether the commit landed is unknown" in message and main_before in message
    assert {p.name: p.read_bytes() for p in folder.iterdir()} == before
    if mode == "hang":  # the server finishes the commit after the client gave up: "unknown" was the truth
        time.sleep(max(0.0, 6.5 - (time.monotonic() - start)))
        assert hub.repos[("model", "tester/faulty")].branches["main"] != main_before
    else:
        assert hub.repos[("model", "tester/faulty")].branches["main"] == main_before
    retried = upload_folder(folder, "tester/faulty", commit_message="second")
    assert hub.repos[("model", "tester/faulty")].branches["main"] == retried.oid
    assert torch.equal(Translator.from_pretrained("tester/faulty")(x), translator(x))


def test_a_refused_login_says_so_and_stays_catchable_as_hf_and_hubstitch_errors(hub, gen, monkeypatch):
    translator, _ = _translator(gen)
    hub.inject("create", "401")
    with pytest.raises(HubAuthError) as info:
        translator.push_to_hub("tester/private-place")
    assert isinstance(info.value, HfHubHTTPError) and isinstance(info.value, hubstitch.HubstitchError)
    message = str(info.value)
    assert "401" in message and "not logged in" in message and "hf auth login" in message
    assert "/tmp" not in message  # no temporary folder named
    hub.inject("commit", "403")
    with pytest.raises(HubAuthError, match="403.*may not write"):
        translator.push_to_hub("tester/not-mine")


def test_save_pretrained_with_push_to_hub_and_the_mixins_arguments(hub, gen, tmp_path):
    translator, x = _translator(gen)
    info = translator.save_pretrained(tmp_path / "t", push_to_hub=True, repo_id="tester/saved-and-pushed")
    assert isinstance(info, CommitInfo) and len(info.oid) == 40
    assert torch.equal(Translator.from_pretrained("tester/saved-and-pushed", revision=info.oid)(x), translator(x))
    again = translator.push_to_hub("tester/saved-and-pushed", revision="dev", commit_description="why",
                                   ignore_patterns=["README.md"])
    files = {f.rfilename for f in HfApi().model_info("tester/saved-and-pushed", revision="dev").siblings}
    assert isinstance(again, CommitInfo) and {"config.json", "model.safetensors"} <= files


def test_a_resave_replaces_the_card(gen, tmp_path):
    linear = hubstitch.fit_translator(torch.randn(100, 8, generator=gen), torch.randn(100, 8, generator=gen),
                                      method="linear")
    orthogonal = hubstitch.fit_translator(torch.randn(100, 8, generator=gen), torch.randn(100, 8, generator=gen),
                                          method="orthogonal")
    orthogonal.save_pretrained(tmp_path)
    linear.save_pretrained(tmp_path)
    card = (tmp_path / "README.md").read_text()
    assert "translator-linear" in card and "translator-orthogonal" not in card


def test_missing_repo_revision_and_file_keep_the_hub_error_with_a_hint(hub, gen):
    translator, _ = _translator(gen)
    translator.push_to_hub("tester/exists")
    with pytest.raises(RepositoryNotFoundError) as info:
        Translator.from_pretrained("tester/does-not-exist")
    assert "hubstitch: loading the translator 'tester/does-not-exist'" in " ".join(info.value.__notes__)
    with pytest.raises(RevisionNotFoundError) as info:
        Translator.from_pretrained("tester/exists", revision="v9")
    assert "revision 'v9' does not exist" in " ".join(info.value.__notes__)
    HfApi().create_repo("tester/empty")
    with pytest.raises(EntryNotFoundError) as info:
        Translator.from_pretrained("tester/empty")
    assert "lacks a file a hubstitch translator needs" in " ".join(info.value.__notes__)


def test_card_with_a_local_path_as_base_model_is_rejected_by_the_hub(hub, gen, tmp_path):
    translator, _ = _translator(gen)
    folder = tmp_path / "artifact"
    translator.save_pretrained(folder)
    card = (folder / "README.md").read_text()
    assert "base_model: org/encoder-a" in card
    card = card.replace("base_model: org/encoder-a", f"base_model: {tmp_path}/local-encoder")
    (folder / "README.md").write_text(card)
    with pytest.raises(ValueError, match="must be Hub ids, got local path"):
        upload_folder(folder, "tester/bad-card")


def test_cli_push_prints_the_commit_and_info_reads_it_back(hub, gen, tmp_path):
    from hubstitch.cli.main import main

    translator, _ = _translator(gen)
    translator.save_pretrained(tmp_path / "t")
    code = main(["push", "tester/cli-pushed", str(tmp_path / "t"), "--format", "json"])
    assert code == 0
    commit = hub.repos[("model", "tester/cli-pushed")].branches["main"]
    assert main(["info", "tester/cli-pushed", "--revision", commit, "--format", "json"]) == 0
    assert json.loads((tmp_path / "t" / "config.json").read_text())["method"] == "orthogonal"


def test_cli_push_to_a_branch_and_as_a_pull_request(hub, gen, tmp_path, capsys):
    from hubstitch.cli.main import main

    translator, _ = _translator(gen)
    translator.save_pretrained(tmp_path / "t")
    assert main(["push", "tester/branches", str(tmp_path / "t"), "--branch", "dev"]) == 0
    dev = capsys.readouterr().out.strip()
    repo = hub.repos[("model", "tester/branches")]
    assert repo.branches["dev"] == dev and repo.branches["main"] != dev
    other, _ = _translator(gen)
    other.save_pretrained(tmp_path / "t2")
    assert main(["push", "tester/branches", str(tmp_path / "t2"), "--create-pr", "--format", "json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["pr_url"].endswith("/discussions/1") and repo.branches["refs/pr/1"] == result["commit"]
    assert main(["push", "tester/branches", str(tmp_path)]) == 1  # not an artifact folder
    assert "not a saved hubstitch artifact" in capsys.readouterr().err
