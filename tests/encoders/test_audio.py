"""Audio encoders on tiny random Whisper and Wav2Vec2: inputs, resampling, padding-free pooling, refusals."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile
import tiny_models as tm
import torch
from scipy.signal import resample_poly

from hubstitch import Encoder
from hubstitch.encoders.audio import AudioError, to_waveform
from hubstitch.encoders.encoder import EncoderError


@pytest.fixture(scope="module")
def audio_models(tmp_path_factory):
    root = tmp_path_factory.mktemp("audio-models")
    return {"whisper": tm.whisper_model(root / "whisper"), "wav2vec2": tm.wav2vec2_model(root / "wav2vec2"),
            "wav2vec2-group": tm.wav2vec2_model(root / "wav2vec2-group", attention_mask=False, seed=1)}


@pytest.fixture(scope="module")
def whisper(audio_models):
    return Encoder.from_pretrained(audio_models["whisper"])


def test_whisper_is_an_audio_encoder_that_means_only_the_frames_of_the_clip(whisper):
    from transformers import WhisperFeatureExtractor

    assert whisper.modality == "audio" and whisper.ref.pooling == "mean" and whisper.dim == 16
    clip, rate = tm.clips(1, seed=3)[0]
    got = whisper.encode((clip, rate), progress=False)[0]
    # an independent reading: the encoder's states over 30 s of padded features, averaged over the frames that the
    # clip covers (10 ms mel hop, halved by the second convolution), not over all 1,500
    features = WhisperFeatureExtractor(feature_size=80)(clip, sampling_rate=rate, return_tensors="pt").input_features
    with torch.inference_mode():
        states = whisper.model(input_features=features).last_hidden_state[0]
    frames = int(np.ceil(len(clip) / 160 / 2))
    assert torch.allclose(got, states[:frames].mean(dim=0), atol=1e-5)
    assert not torch.allclose(got, states.mean(dim=0), atol=1e-3)  # the padding would have changed it


@pytest.mark.parametrize("name", ["wav2vec2", "wav2vec2-group"])
def test_a_clip_encodes_the_same_alone_and_in_a_padded_batch(audio_models, name):
    encoder = Encoder.from_pretrained(audio_models[name])
    assert encoder.modality == "audio"
    items = tm.clips(5, seed=1)
    together = encoder.encode(items, batch_size=5, progress=False)
    alone = torch.cat([encoder.encode(item, progress=False) for item in items])
    assert together.shape == (5, encoder.dim)
    assert torch.allclose(together, alone, atol=1e-5)


def test_every_input_form_gives_the_same_vector(whisper, tmp_path):
    clip, rate = tm.clips(1, seed=5, rate=22050)[0]  # espeak-ng's rate: resampled to the extractor's 16 kHz
    wav, flac = tmp_path / "clip.wav", tmp_path / "clip.flac"
    soundfile.write(wav, clip, rate, subtype="FLOAT")
    soundfile.write(flac, clip, rate)  # 16-bit: a little quantisation
    stereo = np.stack([clip, clip], axis=1)
    expected = whisper.encode([(resample_poly(clip, 320, 441).astype(np.float32), 16000)], progress=False)
    forms = [(clip, rate), (stereo, rate), str(wav), wav, {"array": clip, "sampling_rate": rate},
             {"bytes": wav.read_bytes(), "path": None}, {"path": str(wav)}]
    got = whisper.encode(forms, batch_size=3, progress=False)
    assert torch.allclose(got, expected.expand_as(got), atol=1e-4)
    assert torch.allclose(whisper.encode([flac], progress=False), expected, atol=2e-2)


def test_resampling_matches_scipy_on_fresh_audio():
    gen = np.random.default_rng()
    audio = gen.standard_normal(int(gen.integers(4000, 9000))).astype(np.float32)
    got = to_waveform((audio, 8000), 0, 16000)
    assert got.shape == (2 * audio.size,) and np.allclose(got, resample_poly(audio, 2, 1), atol=1e-6)
    assert to_waveform((audio, 16000), 0, 16000) is not None


def test_bad_audio_is_refused_naming_the_item_and_the_fix(whisper, tmp_path):
    with pytest.raises(EncoderError, match=r"bare array .*fix: pass \(array, sampling_rate\)"):
        whisper.encode(np.zeros(1600, dtype=np.float32))
    with pytest.raises(AudioError, match=r"item 1 lasts 31.0 s; a whisper encoder takes at most 30 s.*fix: cut"):
        whisper.encode([tm.clips(1)[0], (np.zeros(16000 * 31, dtype=np.float32), 16000)], progress=False)
    broken = tmp_path / "broken.wav"
    broken.write_bytes(b"RIFF not really audio")
    with pytest.raises(AudioError, match=r"item 0 .*broken.wav.* is not a readable audio file"):
        whisper.encode([broken], progress=False)
    with pytest.raises(AudioError, match=r"item 0 has sampling rate 0"):
        whisper.encode((np.zeros(100, dtype=np.float32), 0), progress=False)
    with pytest.raises(AudioError, match=r"item 2 \('no-such-file.wav'\) is not a readable audio file"):
        whisper.encode([tm.clips(1)[0], tm.clips(1)[0], "no-such-file.wav"], progress=False)
    with pytest.raises(AudioError, match=r"item 0 is a list; expected an audio file path"):
        to_waveform([0.0, 0.1], 0, 16000)
    with pytest.raises(AudioError, match=r"non-empty, finite"):
        whisper.encode((np.array([0.0, np.nan], dtype=np.float32), 16000), progress=False)


def test_a_text_modality_is_refused_for_an_audio_checkpoint(audio_models):
    with pytest.raises(EncoderError, match=r"is an audio model \(whisper\) but modality='text'"):
        Encoder.from_pretrained(audio_models["whisper"], modality="text")


@pytest.mark.slow
def test_an_audio_to_text_pipeline_predicts_a_wav_file_from_the_cli(audio_models, tiny, tmp_path, gen):
    """Whisper clip latents -> translator -> a head trained on text latents only, saved, then `hubstitch predict
    PIPE clip.wav`, which also refuses a file that is not audio before loading any weights."""
    import json
    import subprocess
    import sys

    import hubstitch
    from hubstitch import ClassifierHead, StitchedPipeline

    audio, text = Encoder.from_pretrained(audio_models["whisper"]), Encoder.from_pretrained(tiny["bert"])
    x = audio.encode(tm.clips(40, seed=7), progress=False)
    y = torch.randn(40, text.dim, generator=gen)
    translator = hubstitch.fit_translator(x, y, method="linear", source_ref=audio.ref, target_ref=text.ref)
    head = ClassifierHead.fit(y, ["speech", "music"] * 20, epochs=50, encoder=text.ref)
    pipe = StitchedPipeline(audio, translator, head)
    pipe.save_pretrained(tmp_path / "pipe")
    clip, rate = tm.clips(1, seed=8)[0]
    soundfile.write(tmp_path / "clip.wav", clip, rate, subtype="FLOAT")  # PCM_16 would quantise the clip
    expected = pipe((clip, rate), top_k=2)  # one clip: one list of predictions
    run = subprocess.run([sys.executable, "-m", "hubstitch.cli", "predict", str(tmp_path / "pipe"),
                          str(tmp_path / "clip.wav"), "--format", "json", "--top-k", "2"], capture_output=True,
                         text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    got = json.loads(run.stdout)[0]["predictions"]
    assert [p["label"] for p in got] == [p["label"] for p in expected]
    assert [p["score"] for p in got] == pytest.approx([p["score"] for p in expected], abs=1e-5)
    (tmp_path / "notes.txt").write_text("not audio")
    run = subprocess.run([sys.executable, "-m", "hubstitch.cli", "predict", str(tmp_path / "pipe"),
                          str(tmp_path / "notes.txt")], capture_output=True, text=True, timeout=300)
    assert run.returncode == 1 and "input 1 (" in run.stderr and "not a readable audio file" in run.stderr


@pytest.mark.slow
def test_train_head_reads_an_audio_column_of_wav_paths(audio_models, tiny, tmp_path):
    import csv
    import subprocess
    import sys

    rows = []
    for i, (clip, rate) in enumerate(tm.clips(12, seed=9)):
        soundfile.write(tmp_path / f"clip{i}.wav", clip, rate)
        rows.append({"audio": str(tmp_path / f"clip{i}.wav"), "label": "speech" if i % 2 else "music"})
    with (tmp_path / "clips.csv").open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=["audio", "label"])
        writer.writeheader()
        writer.writerows(rows)

    def train_head(encoder, column: str, out: str):
        return subprocess.run([sys.executable, "-m", "hubstitch.cli", "train-head", str(encoder), "--dataset",
                               str(tmp_path / "clips.csv"), column, "audio", "--label-column", "label", "--out",
                               str(tmp_path / out), "--epochs", "20"], capture_output=True, text=True, timeout=300)

    run = train_head(audio_models["whisper"], "--audio-column", "head")
    assert run.returncode == 0, run.stderr
    from hubstitch import ClassifierHead

    head = ClassifierHead.from_pretrained(tmp_path / "head")
    assert sorted(head.labels) == ["music", "speech"] and head.config.encoder.modality == "audio"
    run = train_head(tiny["bert"], "--audio-column", "refused")
    assert run.returncode == 1 and "--audio-column was given but" in run.stderr and "encodes text" in run.stderr


def test_rates_samples_and_lengths_are_checked_before_any_resampling(whisper):
    import time

    started = time.monotonic()
    for rate in (7, 1):  # a 7 Hz "clip" once resampled for minutes into gigabytes before the length check
        with pytest.raises(AudioError, match=rf"item 0 has sampling rate {rate} Hz; expected 1,000 to 768,000"):
            whisper.encode((np.zeros(1000, dtype=np.float32), rate), progress=False)
    with pytest.raises(AudioError, match=r"item 0 lasts 62.5 s; a whisper encoder takes at most 30 s"):
        whisper.encode((np.zeros(500_000, dtype=np.float32), 8000), progress=False)
    assert time.monotonic() - started < 60  # refused up front (a bound on a refusal, not a speed test)
    loud = np.zeros(16000, dtype=np.float32)
    loud[100] = 1e30  # a float WAV far out of [-1, 1]: Whisper's spectrogram overflows into NaN latents
    with pytest.raises(AudioError, match=r"item 0 has samples up to 1e\+30; expected a float waveform in \[-1, 1\]"):
        whisper.encode((loud, 16000), progress=False)


def test_integer_samples_are_scaled_to_the_float_range(whisper, gen):
    pcm = (np.random.default_rng(int(torch.randint(0, 2**31, (1,), generator=gen))).uniform(-0.5, 0.5, 16000)
           * 32768).astype(np.int16)
    as_int = whisper.encode((pcm, 16000), progress=False)
    as_float = whisper.encode((pcm.astype(np.float32) / 32768, 16000), progress=False)
    assert torch.allclose(as_int, as_float, atol=1e-5)


def test_an_audio_spectrogram_transformer_is_an_audio_encoder_and_other_modalities_follow_transformers(tmp_path):
    """AST checkpoints were taken for text models (and refused with modality='audio'); what a family reads now
    follows transformers' own audio / image task lists, and an audio family hubstitch cannot feed is refused."""
    from hubstitch.encoders.encoder import natural_modality

    encoder = Encoder.from_pretrained(tm.ast_model(tmp_path / "ast"))
    assert (encoder.modality, encoder.family, encoder.dim) == ("audio", "audio-spectrogram-transformer", 16)
    vectors = encoder.encode(tm.clips(3, seed=4), progress=False)
    assert vectors.shape == (3, 16) and torch.isfinite(vectors).all()
    assert torch.allclose(encoder.encode(tm.clips(3, seed=4)[1], progress=False)[0], vectors[1], atol=1e-5)
    with pytest.raises(AudioError, match=r"item 0 lasts 2.0 s; an audio-spectrogram-transformer encoder takes at most "
                                         r"1.5 s"):  # the window it would otherwise cut silently
        encoder.encode((np.zeros(32000, dtype=np.float32), 16000), progress=False)
    assert Encoder.from_pretrained(tmp_path / "ast", modality="audio").modality == "audio"
    for family, modality in [("hubert", "audio"), ("speech_to_text", "audio"), ("convnext", "image"),
                             ("swiftformer", "image"), ("clip", "text"), ("bert", "text"), ("xlm-roberta", "text")]:
        assert natural_modality(family) == modality, family
    with pytest.raises(EncoderError, match=r"org/s2t is an audio model \(speech_to_text\) whose inputs hubstitch does "
                                           r"not read yet"):
        Encoder._modality("org/s2t", "speech_to_text", None)
