"""``hubstitch fit --sequence``, ``stitch`` with a decoder and ``predict`` transcribing, on tiny random Whispers."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import soundfile
import tiny_models as tm
from helpers import one_error_line


def _run(*args, home):
    env = {**os.environ, "HUBSTITCH_CACHE": str(home / "cache"), "HF_HUB_DISABLE_PROGRESS_BARS": "1",
           "HF_HUB_OFFLINE": "1", "HF_HUB_CACHE": str(home / "hub")}
    return subprocess.run([sys.executable, "-m", "hubstitch.cli", *map(str, args)], capture_output=True, text=True,
                          env=env, timeout=600)


def test_fit_stitch_and_predict_a_generating_pipeline_from_the_cli(tmp_path):
    a, b = tm.whisper_generator(tmp_path / "a", 16, seed=0), tm.whisper_generator(tmp_path / "b", 24, seed=1)
    rows = []
    for i, (wave, rate) in enumerate(tm.clips(12, seed=4)):
        soundfile.write(tmp_path / f"clip{i}.wav", wave, rate)
        rows.append({"audio": str(tmp_path / f"clip{i}.wav"), "text": tm.WHISPER_WORDS[i % 10] + " today"})
    (tmp_path / "clips.jsonl").write_text("".join(json.dumps(row) + "\n" for row in rows))
    fit = _run("fit", a, b, "--anchors", tmp_path / "clips.jsonl", "--source-column", "audio", "--sequence",
               "--transcript-column", "text", "--holdout", 3, "--epochs", 1, "--context", 1, "--format", "json",
               "--out", tmp_path / "translator", home=tmp_path)
    assert fit.returncode == 0, fit.stderr
    summary = json.loads(fit.stdout)
    assert summary["kind"] == "sequence" and summary["context"] == 1 and summary["method"] == "affine"
    assert summary["refinement"]["transcripts"] == "given" and summary["heldout_wer"]["clips"] == 3
    stitch = _run("stitch", a, tmp_path / "translator", "--out", tmp_path / "pipe", "--num-beams", 2,
                  "--format", "json", home=tmp_path)
    assert stitch.returncode == 0, stitch.stderr
    decoder = json.loads(stitch.stdout)["manifest"]["stages"][-1]
    assert decoder["kind"] == "decoder" and decoder["model_id"] == str(b) and decoder["generate"] == {"num_beams": 2}
    predict = _run("predict", tmp_path / "pipe", tmp_path / "clip0.wav", tmp_path / "clip1.wav", "--format", "json",
                   home=tmp_path)
    assert predict.returncode == 0, predict.stderr
    answers = json.loads(predict.stdout)
    assert [a["input"] for a in answers] == [str(tmp_path / "clip0.wav"), str(tmp_path / "clip1.wav")]
    assert all(isinstance(a["text"], str) for a in answers)
    text = _run("predict", tmp_path / "pipe", tmp_path / "clip0.wav", home=tmp_path)
    assert text.returncode == 0 and text.stdout.startswith(str(tmp_path / "clip0.wav")[:60] + "\t")
    refused = _run("fit", a, b, "--anchors", tmp_path / "clips.jsonl", "--source-column", "audio",
                   "--transcript-column", "text", "--out", tmp_path / "no", home=tmp_path)
    assert refused.returncode != 0 and one_error_line(refused.stderr) and "add --sequence" in refused.stderr
    assert not (tmp_path / "no").exists()
