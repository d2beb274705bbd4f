"""Audio items -> model inputs: clips read and resampled (numpy, soundfile, scipy; never torchaudio), padded by the
checkpoint's feature extractor, with a mask of the encoder frames that carry audio.

Accepted items: a WAV / FLAC path, ``(array, sampling_rate)``, a ``datasets`` Audio cell (``{"array",
"sampling_rate"}`` or ``{"path"/"bytes"}``). Multi-channel audio is averaged to mono; other rates are resampled to
the extractor's (`resample_poly`). A bare array is refused: its rate is unknown.

Whisper pads every clip to 30 s (1,500 encoder frames): the mask marks the frames of the clip itself, so a
``mean`` pooling averages the audio, not the padding; a clip longer than 30 s is refused (cut it first).
Wav2Vec2-style encoders get the extractor's sample mask turned into frame lengths by the model itself.

Example:
    >>> import numpy as np
    >>> from hubstitch.encoders.audio import to_waveform
    >>> to_waveform((np.ones((8000, 2), dtype=np.float32), 8000), 0, 16000).shape  # stereo 8 kHz -> mono 16 kHz
    (16000,)
"""

from __future__ import annotations

import io
from math import gcd
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..errors import HubstitchValueError

SPECTROGRAM_FAMILIES = {"audio-spectrogram-transformer"}  # a fixed window of log-mel patches, no frame mask
AUDIO_FAMILIES = {"whisper", "wav2vec2", "hubert", "wavlm", "data2vec-audio", "unispeech", "unispeech-sat", "sew",
                  "sew-d", "wav2vec2-conformer", *SPECTROGRAM_FAMILIES}  # the audio families hubstitch reads
WHISPER_SECONDS = 30.0
MAX_SECONDS = 120.0  # attention over ~50 frames a second: longer clips should be cut into pieces first
MIN_RATE, MAX_RATE = 1_000, 768_000  # Hz: below, nothing speech-like is left; above, no recording format goes
MAX_PEAK = 1_000.0  # float samples are in [-1, 1]; far beyond is not a waveform (and overflows the spectrogram)


class AudioError(HubstitchValueError):
    """An audio item that cannot be read, or is too long for its encoder."""


def _read(source: Any, index: int) -> tuple[np.ndarray, int]:
    try:
        import soundfile
    except ImportError as err:
        raise AudioError("reading audio files needs soundfile; fix: pip install 'hubstitch[audio]'") from err
    try:
        data, rate = soundfile.read(source, dtype="float32", always_2d=False)
    except (RuntimeError, OSError, TypeError, ValueError) as err:  # soundfile.LibsndfileError is a RuntimeError
        raise AudioError(f"item {index} ({str(source)[:80]!r}) is not a readable audio file: {err}; expected WAV, "
                         f"FLAC or OGG; fix: check the audio column") from err
    return data, int(rate)


def _resample(audio: np.ndarray, rate: int, target: int) -> np.ndarray:
    if rate == target:
        return audio
    try:
        from scipy.signal import resample_poly
    except ImportError as err:
        raise AudioError(f"audio at {rate} Hz needs resampling to {target} Hz, which uses scipy; fix: pip install "
                         f"'hubstitch[audio]'") from err
    common = gcd(rate, target)
    return resample_poly(audio, target // common, rate // common).astype(np.float32)


def seconds_limit(family: str, extractor: Any = None) -> float:
    """The longest clip an encoder of `family` takes, in seconds (a spectrogram transformer's window: its
    extractor's ``max_length`` frames of 10 ms, which it would otherwise cut silently)."""
    if family in SPECTROGRAM_FAMILIES:
        return float(getattr(extractor, "max_length", 1024)) / 100.0
    return WHISPER_SECONDS if family == "whisper" else MAX_SECONDS


def to_waveform(item: Any, index: int, rate: int, family: str | None = None, extractor: Any = None) -> np.ndarray:
    """One item as a mono float32 waveform at `rate` Hz; the rate, the samples and (with the encoder's `family`) the
    length are checked before any resampling, so a bad clip costs nothing."""
    if isinstance(item, dict) and "array" in item and "sampling_rate" in item:
        item = (np.asarray(item["array"]), item["sampling_rate"])
    elif isinstance(item, dict) and (item.get("bytes") or item.get("path")):
        item = _read(io.BytesIO(item["bytes"]) if item.get("bytes") else item["path"], index)
    elif isinstance(item, (str, Path, bytes)) or hasattr(item, "read"):
        item = _read(io.BytesIO(item) if isinstance(item, bytes) else item, index)
    if not (isinstance(item, tuple) and len(item) == 2 and isinstance(item[0], np.ndarray)):
        raise AudioError(f"item {index} is a {type(item).__name__}; expected an audio file path, (array, "
                         f"sampling_rate) or a datasets Audio cell; fix: pass the audio column (a bare array has no "
                         f"known rate: pass (array, rate))")
    audio, source_rate = item
    if isinstance(source_rate, bool) or not isinstance(source_rate, (int, np.integer)) or source_rate <= 0:
        raise AudioError(f"item {index} has sampling rate {source_rate!r}; expected a positive whole number of Hz")
    if not MIN_RATE <= source_rate <= MAX_RATE:
        raise AudioError(f"item {index} has sampling rate {int(source_rate)} Hz; expected {MIN_RATE:,} to "
                         f"{MAX_RATE:,} Hz (speech is recorded at 8,000 to 48,000); fix: check the rate passed with "
                         f"the array, or the file's header")
    audio = np.asarray(audio)
    if np.issubdtype(audio.dtype, np.integer):  # PCM sample values: scaled to [-1, 1]
        audio = audio / float(np.iinfo(audio.dtype).max + 1)
    audio = np.asarray(audio, dtype=np.float32)
    if audio.ndim == 2:  # (samples, channels) as soundfile reads it, or (channels, samples)
        audio = audio.mean(axis=1 if audio.shape[0] >= audio.shape[1] else 0)
    if audio.ndim != 1 or audio.size == 0 or not np.isfinite(audio).all():
        raise AudioError(f"item {index} has shape {audio.shape}; expected a non-empty, finite mono or multi-channel "
                         f"waveform")
    peak = float(np.abs(audio).max())
    if peak > MAX_PEAK:
        raise AudioError(f"item {index} has samples up to {peak:.3g}; expected a float waveform in [-1, 1]; fix: "
                         f"divide by its scale (32,768 for 16-bit sample values), or pass the integer array itself")
    if family is not None:
        check_length(audio, index, int(source_rate), family, extractor)
    return _resample(audio, int(source_rate), rate)


def check_length(audio: np.ndarray, index: int, rate: int, family: str, extractor: Any = None) -> None:
    limit = seconds_limit(family, extractor)
    seconds = audio.size / rate
    if seconds > limit:
        article = "an" if family[:1] in "aeiou" else "a"
        raise AudioError(f"item {index} lasts {seconds:.1f} s; {article} {family} encoder takes at most {limit:g} s "
                         f"per clip; fix: cut it into pieces of at most {limit:g} s and encode those")


def single_clips(extractor: Any, family: str) -> bool:
    """True where clips must be encoded one at a time: a Wav2Vec2-style extractor without an attention mask
    (group-norm models such as wav2vec2-base) would see the zero padding as audio."""
    return (family != "whisper" and family not in SPECTROGRAM_FAMILIES
            and not getattr(extractor, "return_attention_mask", True))


def audio_batch(extractor: Any, model: torch.nn.Module, family: str, clips: list[np.ndarray]) -> dict[str, Any]:
    """Model inputs for `clips` (mono, at the extractor's rate), and ``frame_mask``: (batch, frames), 1 where an
    encoder frame carries audio."""
    rate = extractor.sampling_rate
    if family in SPECTROGRAM_FAMILIES:  # every clip fills the same window of patches: nothing to mask
        return {"input_values": extractor(clips, sampling_rate=rate, return_tensors="pt")["input_values"]}
    if family == "whisper":
        features = extractor(clips, sampling_rate=rate, return_tensors="pt", return_attention_mask=True)
        mel_mask = features.pop("attention_mask")
        frames = model.config.max_source_positions
        stride = mel_mask.shape[1] // frames  # the second convolution halves the 3,000 mel frames
        frame_mask = mel_mask[:, ::stride][:, :frames].long()
        return {"input_features": features["input_features"], "frame_mask": frame_mask}
    features = extractor(clips, sampling_rate=rate, padding=True, return_tensors="pt", return_attention_mask=True)
    samples = features["attention_mask"].sum(dim=1)
    lengths = model._get_feat_extract_output_lengths(samples).long()
    frames = int(model._get_feat_extract_output_lengths(torch.tensor(features["input_values"].shape[1])))
    frame_mask = (torch.arange(frames)[None, :] < lengths[:, None]).long()
    batch = {"input_values": features["input_values"], "frame_mask": frame_mask}
    if not single_clips(extractor, family):
        batch["attention_mask"] = features["attention_mask"]
    return batch
