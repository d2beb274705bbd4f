"""End to end on real pretrained checkpoints, offline: fit MiniLM -> MPNet, train a head on MPNet, stitch, push to
the loopback Hub, then load the pipeline by its Hub id in a fresh process: identical predictions."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from hub_server import HubServer, point_client_at

MINILM, MPNET = "sentence-transformers/all-MiniLM-L6-v2", "sentence-transformers/all-mpnet-base-v2"
TOPICS = {
    "business": ["shares", "profits", "the central bank", "investors", "the merger", "quarterly earnings",
                 "the stock market", "oil prices", "the retailer", "inflation"],
    "sport": ["the striker", "the champions", "the coach", "the final", "the league", "the tennis star",
              "the marathon", "the goalkeeper", "the cup holders", "the relay team"],
    "tech": ["the new phone", "the chip maker", "the software update", "the start-up's app", "the search engine",
             "the robot", "the cloud service", "the laptop", "the social network", "the video game"],
}
VERBS = ["surprised everyone this week", "made headlines on Monday", "is expected to change next year",
         "drew criticism from experts", "set a new record", "faces an uncertain future"]


def sentences() -> tuple[list[str], list[str]]:
    texts, labels = [], []
    for topic, subjects in TOPICS.items():
        for i, subject in enumerate(subjects):
            for j, verb in enumerate(VERBS):
                if (i + j) % 2 == 0:
                    texts.append(f"{subject.capitalize()} {verb}.")
                    labels.append(topic)
    return texts, labels


@pytest.mark.slow
def test_fit_head_stitch_push_and_load_by_id_in_a_fresh_process(shelf_cache, monkeypatch, tmp_path):
    import hubstitch
    from hubstitch.encoders.encoder import Encoder
    from hubstitch.heads.head import ClassifierHead
    from hubstitch.hub.offline_pins import OfflinePinError
    from hubstitch.pipelines.pipeline import StitchedPipeline

    server = HubServer().start()
    try:
        point_client_at(monkeypatch, tmp_path, server.url)
        cache = Path(tmp_path / "hf-cache")
        cache.mkdir()
        for model_id in (MINILM, MPNET):  # the shelf's checkpoints, visible in this test's own Hub cache
            name = f"models--{model_id.replace('/', '--')}"
            (cache / name).symlink_to(shelf_cache / name, target_is_directory=True)
        texts, labels = sentences()
        source = Encoder.from_pretrained(MINILM, local_files_only=True)
        target = Encoder.from_pretrained(MPNET, local_files_only=True)
        assert (source.dim, target.dim) == (384, 768) and len(source.ref.revision) == 40
        xs, xt = source.encode(texts, progress=False), target.encode(texts, progress=False)
        anchors, held = slice(0, len(texts), 2), slice(1, len(texts), 2)
        translator = hubstitch.fit_translator(xs[anchors], xt[anchors], method="auto", eval_source=xs[held],
                                              eval_target=xt[held], source_ref=source.ref, target_ref=target.ref)
        head = ClassifierHead.fit(xt[anchors], labels[anchors], epochs=200, encoder=target.ref)
        pipe = StitchedPipeline(source, translator, head)
        stitched = [p[0]["label"] for p in pipe(texts[held])]
        accuracy = sum(p == y for p, y in zip(stitched, labels[held], strict=True)) / len(stitched)
        assert accuracy > 0.8, accuracy  # zero-shot: the head never saw a MiniLM latent
        queries = ["Shares fell after the bank cut its forecast.", "The goalkeeper saved a late penalty.",
                   "The update makes the phone's battery last longer."]
        before = pipe(queries, top_k=3)
        with pytest.raises(OfflinePinError, match="all-MiniLM-L6-v2@.*nothing was uploaded"):
            pipe.push_to_hub("tester/minilm-to-mpnet-topics")  # the shelf's commit is not the Hub's
        sha = pipe.push_to_hub("tester/minilm-to-mpnet-topics", allow_offline_pins=True).oid
        code = ("import json, sys; from hubstitch import StitchedPipeline\n"
                f"pipe = StitchedPipeline.from_pretrained('tester/minilm-to-mpnet-topics', revision='{sha}')\n"
                f"print(json.dumps(pipe({queries!r}, top_k=3)))\n")
        env = {**os.environ, "HF_ENDPOINT": server.url, "HF_HUB_CACHE": str(cache), "HF_TOKEN": "hf_test",
               "HF_HUB_DISABLE_XET": "1", "HF_HUB_DISABLE_PROGRESS_BARS": "1"}
        env.pop("HF_HUB_OFFLINE", None)
        result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=600)
        assert result.returncode == 0, result.stderr
        assert json.loads(result.stdout.strip().splitlines()[-1]) == before
    finally:
        server.stop()
