"""Stitched speech recognition on the shelf's real Whisper checkpoints: tiny.en's encoder read by base's decoder."""

from __future__ import annotations

import shutil

import pytest

from hubstitch.decoders.wer import word_error_rate


@pytest.mark.slow
def test_a_stitched_tiny_en_to_base_pipeline_transcribes_held_out_speech(shelf_cache, shelf_data, tmp_path,
                                                                         monkeypatch):
    """Fitted on 256 spoken BBC titles (synthetic espeak-ng speech) with their transcripts; on 30 held-out titles
    (never anchors) base's decoder reading tiny.en's encoder is as usable as tiny.en itself (WER at most native
    tiny.en's + 0.05, the issue's goal), where the untuned frame-level map does not transcribe at all.

    In domain only: on other speech (plain sentences) this map, tuned on headlines, does worse than tiny.en
    (BENCHMARKS.md, "Generation")."""
    if not shutil.which("espeak-ng"):
        pytest.skip("needs espeak-ng (apt-get install espeak-ng)")
    import huggingface_hub.constants as constants

    from hubstitch import AnchorSet, Decoder, Encoder, StitchedPipeline, fit_from_encoders
    from hubstitch.shelf.models import AUDIO_ENCODERS

    # offline, and the shelf is the Hub cache (huggingface_hub reads these at import: set them, not the environment)
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(shelf_cache))
    tiny_id, base_id = AUDIO_ENCODERS
    tiny = Encoder.from_pretrained(tiny_id, cache_dir=shelf_cache)
    base = Encoder.from_pretrained(base_id, cache_dir=shelf_cache)
    anchors = AnchorSet.load(str(shelf_data["spoken_bbc"]), source_column="audio")
    translator = fit_from_encoders(tiny, base, anchors, sequence=True, transcript_column="text", n=256, holdout=30,
                                   epochs=3, progress=False)
    wer = translator.config.metrics["heldout_wer"]
    assert wer["clips"] == 30 and wer["untuned"] > 0.9  # the frame-level map alone does not transcribe
    _, heldout = anchors.split_holdout(30, seed=0)  # the same held-out clips the fit kept out
    clips, references = heldout.source_items(), heldout.column("text")
    native = StitchedPipeline(tiny, None, Decoder.from_encoder(tiny))
    native_wer = word_error_rate(references, [answer["text"] for answer in native(clips)])
    assert wer["stitched"] <= native_wer + 0.05, (wer, native_wer)
    stitched = StitchedPipeline(tiny, translator, Decoder.from_encoder(base, language="en"))
    texts = [answer["text"] for answer in stitched(clips[:4])]
    stitched.save_pretrained(tmp_path / "asr")
    assert [a["text"] for a in StitchedPipeline.from_pretrained(tmp_path / "asr")(clips[:4])] == texts
