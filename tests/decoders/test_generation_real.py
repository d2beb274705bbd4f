"""Stitched speech recognition on the shelf's real Whisper checkpoints: tiny.en's encoder read by base's decoder."""

from __future__ import annotations

import io
import shutil

import pytest
import soundfile

from hubstitch.decoders.wer import word_error_rate

SENTENCES = ("Please open the window.", "Good morning, everyone.", "The weather is cold today.",
             "She bought a new car last week.")


@pytest.mark.slow
def test_a_stitched_tiny_en_to_base_pipeline_transcribes_held_out_speech(shelf_cache, shelf_data, tmp_path,
                                                                         monkeypatch):
    """Fitted on 256 spoken BBC titles (synthetic espeak-ng speech) with their transcripts, never on the sentences
    it is tested on: base's decoder reading tiny.en's encoder is as usable as tiny.en itself (WER within 0.05 of
    native tiny.en), where the untuned frame-level map does not transcribe at all."""
    if not shutil.which("espeak-ng"):
        pytest.skip("needs espeak-ng (apt-get install espeak-ng)")
    from hubstitch import AnchorSet, Decoder, Encoder, StitchedPipeline, fit_from_encoders
    from hubstitch.shelf.datasets import speak
    from hubstitch.shelf.models import AUDIO_ENCODERS

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    tiny_id, base_id = AUDIO_ENCODERS
    tiny = Encoder.from_pretrained(tiny_id, cache_dir=shelf_cache)
    base = Encoder.from_pretrained(base_id, cache_dir=shelf_cache)
    anchors = AnchorSet.load(str(shelf_data["spoken_bbc"]), source_column="audio")
    translator = fit_from_encoders(tiny, base, anchors, sequence=True, transcript_column="text", n=256, holdout=10,
                                   epochs=3, progress=False)
    wer = translator.config.metrics["heldout_wer"]
    assert wer["untuned"] > 0.9 and wer["stitched"] < wer["untuned"] - 0.3  # held-out BBC titles
    clips = []
    for i, sentence in enumerate(SENTENCES):
        samples, rate = soundfile.read(io.BytesIO(speak(sentence, ("en-us", "en-gb")[i % 2], 150)), dtype="float32")
        clips.append((samples, rate))
    stitched = StitchedPipeline(tiny, translator, Decoder.from_encoder(base, language="en"))
    native = StitchedPipeline(tiny, None, Decoder.from_encoder(tiny))
    stitched_texts = [answer["text"] for answer in stitched(clips)]
    native_texts = [answer["text"] for answer in native(clips)]
    assert word_error_rate(SENTENCES, stitched_texts) <= word_error_rate(SENTENCES, native_texts) + 0.05, \
        (stitched_texts, native_texts)
    stitched.save_pretrained(tmp_path / "asr")
    assert [a["text"] for a in StitchedPipeline.from_pretrained(tmp_path / "asr")(clips)] == stitched_texts
