"""Pipelines, heads, composition and search through the loopback Hub; the CLI verbs around them."""

from __future__ import annotations

import json
import re
import subprocess
import sys

import pytest
import torch
from hub_server import HubServer, point_client_at

import hubstitch
from hubstitch.cli.main import main
from hubstitch.encoders.encoder import Encoder
from hubstitch.heads.head import ClassifierHead
from hubstitch.pipelines.pipeline import StitchedPipeline
from hubstitch.translators.search import published_translators, shortest_chain

WORDS = ["hello", "world", "the", "cat", "dog", "news", "sport", "money"]
TEXTS = [" ".join(WORDS[(i * k + i) % 8] for k in range(1, 3 + i % 4)) for i in range(60)]
LABELS = ["business" if "money" in t or "news" in t else "sport" for t in TEXTS]


@pytest.fixture
def hub(monkeypatch, tmp_path):
    server = HubServer().start()
    point_client_at(monkeypatch, tmp_path, server.url)
    yield server
    server.stop()


@pytest.fixture(scope="module")
def stages(tiny):
    source, target = Encoder.from_pretrained(tiny["bert"]), Encoder.from_pretrained(tiny["bert-2"])
    xs, xt = source.encode(TEXTS, progress=False), target.encode(TEXTS, progress=False)
    translator = hubstitch.fit_translator(xs, xt, method="linear", source_ref=source.ref, target_ref=target.ref)
    head = ClassifierHead.fit(xt, LABELS, epochs=60, encoder=target.ref)
    return source, translator, head


def test_pipeline_with_embedded_stages_pushes_in_one_commit_and_loads_by_id(hub, stages):
    pipe = StitchedPipeline(*stages)
    before = pipe(TEXTS[:8], top_k=2)
    commits_before = len(hub.hits)
    sha = pipe.push_to_hub("tester/pipe").oid
    assert [h for h in hub.hits[commits_before:] if h[1] == "commit"] == [("POST", "commit")]  # one commit
    loaded = StitchedPipeline.from_pretrained("tester/pipe", revision=sha)
    assert loaded(TEXTS[:8], top_k=2) == before


def test_pipeline_referencing_published_stages_pins_their_commits(hub, stages):
    source, translator, head = stages
    translator_sha = translator.push_to_hub("tester/translator").oid
    head_sha = head.push_to_hub("tester/head").oid
    pipe = StitchedPipeline(source, hubstitch.Translator.from_pretrained("tester/translator"),
                            ClassifierHead.from_pretrained("tester/head"))
    manifest = pipe.manifest()
    assert manifest["stages"][1] == {"role": "translator", "kind": "translator", "model_id": "tester/translator",
                                     "revision": translator_sha}
    assert manifest["stages"][2]["revision"] == head_sha
    sha = pipe.push_to_hub("tester/pipe-by-reference").oid
    assert StitchedPipeline.from_pretrained("tester/pipe-by-reference", revision=sha)(TEXTS[:4]) == pipe(TEXTS[:4])


def test_compose_and_search_find_the_shortest_chain(hub, gen):
    a, b, c = (torch.randn(300, d, generator=gen) for d in (8, 6, 5))
    ab = hubstitch.fit_translator(a, b, method="linear", source_ref="org/a", target_ref="org/b")
    bc = hubstitch.fit_translator(b, c, method="orthogonal", source_ref="org/b", target_ref="org/c")
    ab.push_to_hub("tester/a-to-b")
    bc.push_to_hub("tester/b-to-c")
    found = published_translators()
    assert {(t["repo_id"], t["source"], t["target"]) for t in found} == {("tester/a-to-b", "org/a", "org/b"),
                                                                         ("tester/b-to-c", "org/b", "org/c")}
    chain = shortest_chain(found, "org/a", "org/c")
    assert [t["repo_id"] for t in chain] == ["tester/a-to-b", "tester/b-to-c"]
    assert shortest_chain(found, "org/c", "org/a") is None
    loaded = [hubstitch.Translator.from_pretrained(t["repo_id"], revision=t["revision"]) for t in chain]
    composed = hubstitch.compose(*loaded)
    assert torch.allclose(composed(a), bc(ab(a)), atol=1e-4)
    assert [part["repo_id"] for part in composed.config.lineage] == ["tester/a-to-b", "tester/b-to-c"]
    with pytest.raises(hubstitch.HubstitchValueError, match="second translator expects model_id='org/a'"):
        hubstitch.compose(bc, ab)


def test_search_cli(hub, gen, capsys):
    a, b = torch.randn(200, 4, generator=gen), torch.randn(200, 4, generator=gen)
    hubstitch.fit_translator(a, b, method="linear", source_ref="org/x", target_ref="org/y").push_to_hub("tester/x-y")
    assert main(["search", "org/x", "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out)[0]["repo_id"] == "tester/x-y"
    assert main(["search", "org/x", "org/y"]) == 0
    assert "tester/x-y@" in capsys.readouterr().out


def test_stitch_predict_and_info_cli(stages, tiny, tmp_path, capsys):
    source, translator, head = stages
    translator.save_pretrained(tmp_path / "translator")
    head.save_pretrained(tmp_path / "head")
    assert main(["stitch", str(tiny["bert"]), str(tmp_path / "translator"), str(tmp_path / "head"), "--out",
                 str(tmp_path / "pipe")]) == 0
    capsys.readouterr()
    assert main(["predict", str(tmp_path / "pipe"), *TEXTS[:3], "--top-k", "2", "--format", "json"]) == 0
    predictions = json.loads(capsys.readouterr().out)
    assert [p["predictions"] for p in predictions] == StitchedPipeline(source, translator, head)(TEXTS[:3], top_k=2)
    assert main(["info", str(tmp_path / "pipe"), "--format", "json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["verdict"] == "compatible" and [s["role"] for s in info["stages"]] == ["encoder", "translator", "head"]
    config = json.loads((tmp_path / "pipe" / "head" / "config.json").read_text())
    config["encoder"]["pooling"] = "cls"
    (tmp_path / "pipe" / "head" / "config.json").write_text(json.dumps(config))
    assert main(["info", str(tmp_path / "pipe"), "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out)["verdict"].startswith("incompatible: translator gives pooling='mean'")
    assert main(["predict", str(tmp_path / "pipe"), "hello"]) == 1
    assert "expects pooling='cls'" in capsys.readouterr().err


@pytest.mark.parametrize("kind", ["head", "pipeline"])
def test_card_usage_snippets_run(stages, tmp_path, kind):
    source, translator, head = stages
    if kind == "head":
        head.save_pretrained(tmp_path / "a")
        card = head.generate_model_card(repo_id=str(tmp_path / "a"))
    else:
        pipe = StitchedPipeline(source, translator, head)
        pipe.save_pretrained(tmp_path / "a")
        card = pipe.model_card(pipe.manifest(), repo_id=str(tmp_path / "a"))
    snippet = re.search(r"```python\n(.*?)```", card.text, re.S).group(1)
    result = subprocess.run([sys.executable, "-c", snippet], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert "'label'" in result.stdout and "'score'" in result.stdout
