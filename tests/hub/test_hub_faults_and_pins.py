"""Transfers that fail part-way say so in hubstitch's terms, and pushes refuse artifacts that pin checkpoints which
exist only on this machine's offline shelf."""

from __future__ import annotations

import json

import pytest
import torch
from huggingface_hub import ModelCard

import hubstitch
from hubstitch import Translator
from hubstitch.hub import offline_pins
from hubstitch.hub.client import HubAuthError, HubTransferError, upload_folder
from hubstitch.hub.offline_pins import OfflinePinError


def _translator(gen, source="org/encoder-a", revision="a" * 40):
    x = torch.randn(200, 8, generator=gen)
    return hubstitch.fit_translator(x, x @ torch.linalg.qr(torch.randn(8, 8, generator=gen))[0], method="orthogonal",
                                    source_ref={"model_id": source, "revision": revision},
                                    target_ref={"model_id": "org/encoder-b", "revision": "b" * 40})


@pytest.mark.parametrize("mode", ["500", "drop"])
def test_a_failed_lfs_upload_is_a_transfer_error_and_nothing_is_committed(loopback_hub, gen, tmp_path, mode,
                                                                          monkeypatch):
    import huggingface_hub.utils._http as hf_http

    monkeypatch.setattr(hf_http.time, "sleep", lambda seconds: None)  # skip the retries' back-off, keep the retries
    translator = _translator(gen)
    translator.save_pretrained(tmp_path / "t")
    loopback_hub.inject("lfs-upload", mode, times=20)  # huggingface_hub retries an LFS upload: fail every try
    with pytest.raises(HubTransferError, match="failed during the upload .*no commit was made"):
        upload_folder(tmp_path / "t", "tester/lfs-fault")
    commits = loopback_hub.repos[("model", "tester/lfs-fault")].commits.values()
    assert [c.title for c in commits] == ["initial commit"]  # the repo exists; no commit of ours


DOWNLOAD_ANSWERS = {  # what the Hub answers -> (hubstitch's error, what its message must say)
    "401": (HubAuthError, r"\(401: not logged in, or the token is invalid or expired\); fix: `hf auth login`"),
    "403": (HubAuthError, r"\(403: the token may not read it.*fix: use a token with read access"),
    "gated": (HubAuthError, r"is a gated repo.*fix: open http://127\.0\.0\.1:\d+/tester/answers, accept the "
                            r"conditions"),
    "429": (HubTransferError, r"rate-limited .*\(429\).*fix: wait and try again"),
    "500": (HubTransferError, r"\(500, a server error: not your connection\)"),
}


@pytest.mark.parametrize("route", ["info-revision", "resolve"])
@pytest.mark.parametrize("mode", sorted(DOWNLOAD_ANSWERS))
def test_a_download_the_hub_refuses_says_why_by_status_never_check_the_connection(loopback_hub, gen, monkeypatch,
                                                                                  route, mode):
    import huggingface_hub.utils._http as hf_http

    from hubstitch.hub.files import resolve

    monkeypatch.setattr(hf_http.time, "sleep", lambda seconds: None)  # skip the retries' back-off
    _translator(gen).push_to_hub("tester/answers")
    loopback_hub.inject(route, mode, times=100)
    kind, message = DOWNLOAD_ANSWERS[mode]
    loaders = [lambda: resolve("tester/answers")]  # a checkpoint: snapshot_download (repo info, then files)
    if route == "resolve":
        loaders.append(lambda: Translator.from_pretrained("tester/answers"))  # an artifact: file by file
    for load in loaders:
        with pytest.raises(kind, match=message) as caught:
            load()
        assert "check the connection" not in str(caught.value) and "no such repo" not in str(caught.value)


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["hang", "drop"])
def test_a_hung_or_dropped_download_is_bounded_and_typed(loopback_hub, gen, monkeypatch, mode):
    _translator(gen).push_to_hub("tester/slow-download")
    monkeypatch.setenv("HUBSTITCH_HUB_TIMEOUT", "1")  # each request: 1 s without a byte, then huggingface_hub retries
    loopback_hub.inject("resolve", mode, times=50, seconds=30)  # a server that hangs or hangs up, every time
    with pytest.raises(HubTransferError, match="downloading the translator 'tester/slow-download' failed"):
        Translator.from_pretrained("tester/slow-download")


def test_pushing_an_artifact_that_pins_an_offline_commit_is_refused_unless_allowed(loopback_hub, gen, tmp_path,
                                                                                   monkeypatch, caplog):
    monkeypatch.setenv("HUBSTITCH_CACHE", str(tmp_path / "cache"))
    offline_pins.record("org/encoder-a", "a" * 40, "a commit derived from a package's content")
    translator = _translator(gen)
    with pytest.raises(OfflinePinError, match=r"org/encoder-a@a{40}: a commit derived.*nothing was uploaded"):
        translator.push_to_hub("tester/pinned")
    assert ("model", "tester/pinned") not in loopback_hub.repos
    with caplog.at_level("WARNING"):
        info = translator.push_to_hub("tester/pinned", allow_offline_pins=True)
    assert len(info.oid) == 40 and "found only on this machine" in caplog.text
    other = _translator(gen, revision="c" * 40)  # the same id at another commit is not offline-only
    assert len(other.push_to_hub("tester/not-pinned").oid) == 40


def test_an_offline_only_id_is_never_a_base_model_and_the_cli_needs_the_flag(loopback_hub, gen, tmp_path,
                                                                            monkeypatch):
    from hubstitch.cli.main import main

    monkeypatch.setenv("HUBSTITCH_CACHE", str(tmp_path / "cache"))
    offline_pins.record("hubstitch/mobilenet_v2-torchvision", None, "names a conversion made on this machine")
    translator = _translator(gen, source="hubstitch/mobilenet_v2-torchvision", revision="d" * 40)
    translator.save_pretrained(tmp_path / "t")
    card = ModelCard.load(tmp_path / "t" / "README.md")
    assert card.data.base_model is None
    assert main(["push", "tester/converted", str(tmp_path / "t")]) == 1
    assert main(["push", "tester/converted", str(tmp_path / "t"), "--allow-offline-pins"]) == 0


@pytest.mark.slow
def test_the_shelf_records_its_pins(shelf_cache, tmp_path, monkeypatch):
    from hubstitch.shelf.models import install_shelf

    monkeypatch.setenv("HUBSTITCH_CACHE", str(tmp_path / "cache"))
    installed = install_shelf(cache_dir=shelf_cache)  # already installed: only the records are written
    pins = {(p["model_id"], p["revision"]) for p in offline_pins.pins()}
    assert ("hubstitch/mobilenet_v2-torchvision", None) in pins
    minilm = installed["sentence-transformers/all-MiniLM-L6-v2"].name
    assert ("sentence-transformers/all-MiniLM-L6-v2", minilm) in pins
    assert json.loads((tmp_path / "cache" / "offline-pins.json").read_text())


@pytest.mark.slow
@pytest.mark.parametrize("route", ["resolve", "info-revision"])
def test_a_download_whose_server_keeps_hanging_stops_at_its_deadline_naming_the_call(loopback_hub, gen, monkeypatch,
                                                                                      route):
    """Each request is bounded by $HUBSTITCH_HUB_TIMEOUT, but huggingface_hub's retries multiply that bound (a hung
    server once kept a load for the whole of its 200 s hang); the download's deadline stops it."""
    import time

    from hubstitch.hub.files import resolve

    _translator(gen).push_to_hub("tester/hanging")
    monkeypatch.setenv("HUBSTITCH_HUB_TIMEOUT", "1")
    monkeypatch.setenv("HUBSTITCH_HUB_DEADLINE", "3")
    loopback_hub.inject(route, "hang", times=1000, seconds=200)
    load = (lambda: Translator.from_pretrained("tester/hanging")) if route == "resolve" else (
        lambda: resolve("tester/hanging"))
    started = time.monotonic()
    with pytest.raises(HubTransferError, match=r"(had not answered it within 3 s \(\$HUBSTITCH_HUB_DEADLINE\), so "
                                               r"the next call, (GET|HEAD) |the call )http://127\.0\.0\.1:\d+/"
                                               r".*tester/hanging.*(was not made|got no answer within 1 s)"):
        load()
    assert time.monotonic() - started < 60  # a bound on the stop, not a speed test (the server hangs 200 s)


def test_search_offline_says_the_hub_is_unreachable_not_unexpected(monkeypatch, capsys):
    import huggingface_hub.constants as constants

    from hubstitch.cli.main import main

    monkeypatch.setattr(constants, "ENDPOINT", "http://127.0.0.1:9")  # nothing listens on the discard port
    assert main(["search", "org/encoder-a"]) == 1
    err = capsys.readouterr().err
    assert "could not be reached" in err and "fix: check the connection" in err and "unexpected" not in err


def test_the_shelf_never_relabels_a_genuine_hub_snapshot_as_offline_only(tmp_path, monkeypatch):
    """A real checkpoint already in the Hub cache (downloaded from huggingface.co) is kept by `shelf install`, and
    its commit is not recorded as offline-only (a stale such record is dropped), so artifacts fitted on it push."""
    from hubstitch.hub.cache import seed_hub_cache
    from hubstitch.shelf.models import install_shelf, shelf_wrote

    monkeypatch.setenv("HUBSTITCH_CACHE", str(tmp_path / "cache"))
    real = tmp_path / "real-checkpoint"
    real.mkdir()
    (real / "config.json").write_text('{"model_type": "bert"}')
    hub_commit = "1234567890abcdef1234567890abcdef12345678"  # the Hub's own commit, not derived from content
    cache = tmp_path / ".cache" / "huggingface" / "hub"  # under a .cache folder, as a user's Hub cache is
    snapshot = seed_hub_cache(real, "sentence-transformers/all-MiniLM-L6-v2", cache, hub_commit)
    offline_pins.record("sentence-transformers/all-MiniLM-L6-v2", hub_commit, "recorded by an older shelf")
    installed = install_shelf(["sentence-transformers/all-MiniLM-L6-v2"], cache_dir=cache)
    assert installed["sentence-transformers/all-MiniLM-L6-v2"] == snapshot and not shelf_wrote(snapshot)
    assert ("sentence-transformers/all-MiniLM-L6-v2", hub_commit) not in {
        (p["model_id"], p["revision"]) for p in offline_pins.pins()}
    translator = _translator(torch.Generator().manual_seed(0), source="sentence-transformers/all-MiniLM-L6-v2",
                             revision=hub_commit)
    assert not offline_pins.offline_pins_in(translator.config.to_dict())


def test_content_hashes_see_files_of_a_folder_inside_a_cache_folder(tmp_path):
    from hubstitch.hub.files import content_hash

    first, second = tmp_path / ".cache" / "a", tmp_path / ".cache" / "b"
    for folder, text in ((first, "one"), (second, "two")):
        folder.mkdir(parents=True)
        (folder / "config.json").write_text(text)
        (folder / ".cache").mkdir()  # a cache inside the folder itself is still left out
        (folder / ".cache" / "lock").write_text(text)
    assert content_hash(first) != content_hash(second)  # every folder under ~/.cache once hashed as empty
