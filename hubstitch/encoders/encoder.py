"""`Encoder`: a Hub checkpoint (or local folder) turned into a function from raw items to pinned latents.

Text (AutoTokenizer + AutoModel), image (AutoImageProcessor, PIL backend, + AutoModel), audio (AutoFeatureExtractor
+ Whisper's encoder or a Wav2Vec2-style AutoModel; `hubstitch.encoders.audio`), CLIP-style dual encoders
(tower chosen by `modality`, projected embeddings) and sentence-transformers repos (``modules.json``,
``1_Pooling/config.json``, ``Normalize``) load the same way. The revision is resolved once to its commit and
recorded; `trust_remote_code` stays False unless passed; weights load from safetensors only.

Example:
    >>> from hubstitch import Encoder  # doctest: +SKIP
    >>> encoder = Encoder.from_pretrained("sentence-transformers/all-MiniLM-L6-v2")  # doctest: +SKIP
    >>> encoder.encode(["a sentence", "another one"]).shape  # doctest: +SKIP
    torch.Size([2, 384])
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import torch
from huggingface_hub.utils import tqdm

from ..errors import HubstitchValueError, UnknownMethodError
from ..hub.files import MODEL_PATTERNS, ResolvedRepo, resolve, split_revision
from ..spaces import LatentSpaceRef
from .audio import AUDIO_FAMILIES, audio_batch, single_clips, to_waveform
from .pooling import CNN_FAMILIES, SEQUENCE_POOLING, check_pooling, default_pooling, pool

logger = logging.getLogger(__name__)

MODALITIES = ("text", "image", "audio")
DUAL_FAMILIES = {"clip", "siglip", "siglip2", "chinese_clip"}
VISION_FAMILIES = CNN_FAMILIES | {"vit", "deit", "dinov2", "beit", "swin", "swinv2", "data2vec-vision", "dinov3_vit"}
MAX_IMAGE_PIXELS = 40_000_000  # a 12,000 x 12,000 PNG would decode to 2.4 GB before any resize; refuse it first
TOKENIZER_FILES = ("tokenizer.json", "vocab.txt", "vocab.json", "tokenizer.model", "spiece.model",
                   "sentencepiece.bpe.model")
ST_MODULES = {"sentence_transformers.models.Transformer", "sentence_transformers.models.Pooling",
              "sentence_transformers.models.Normalize",
              # the names sentence-transformers 6 writes
              "sentence_transformers.base.modules.transformer.Transformer",
              "sentence_transformers.sentence_transformer.modules.pooling.Pooling",
              "sentence_transformers.base.modules.normalize.Normalize"}


class EncoderError(HubstitchValueError):
    """A checkpoint, modality, pooling or input that an `Encoder` cannot work with."""


def _read_json(path: Path) -> dict[str, Any]:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as err:
        raise EncoderError(f"cannot read {path}: {err}; fix: check the checkpoint files") from err


def _inside(folder: Path, relative: str) -> Path:
    """`folder / relative`, refusing absolute paths and paths that climb out of `folder`."""
    candidate = (folder / relative).resolve()
    if Path(relative).is_absolute() or not candidate.is_relative_to(folder.resolve()):
        raise EncoderError(f"path {relative!r} in modules.json leaves the checkpoint folder; expected a relative "
                           f"path inside it; fix: this repo's modules.json is unsafe, do not use it")
    return candidate


def read_sentence_transformers(folder: Path) -> dict[str, Any] | None:
    """Transformer subfolder, pooling, normalisation and max length of a sentence-transformers repo (or None)."""
    modules_file = folder / "modules.json"
    if not modules_file.is_file():
        return None
    info: dict[str, Any] = {"transformer": folder, "pooling": None, "normalize": False, "max_length": None}
    for module in _read_json(modules_file):
        kind, path = module.get("type"), module.get("path", "")
        if kind not in ST_MODULES:
            raise EncoderError(f"modules.json lists {kind!r}; hubstitch supports {sorted(ST_MODULES)}; fix: use "
                               f"the repo through sentence-transformers, or an encoder without that module")
        target = _inside(folder, path)
        if kind.endswith("Transformer"):
            info["transformer"] = target
        elif kind.endswith("Pooling"):
            config = _read_json(target / "config.json")
            modes = {"cls": "pooling_mode_cls_token", "mean": "pooling_mode_mean_tokens",
                     "max": "pooling_mode_max_tokens", "lasttoken": "pooling_mode_lasttoken"}
            chosen = [name for name, key in modes.items() if config.get(key) or config.get("pooling_mode") == name]
            if len(chosen) != 1 or config.get("pooling_mode_mean_sqrt_len_tokens"):
                raise EncoderError(f"{target}/config.json asks for poolings {chosen}; hubstitch supports exactly "
                                   f"one of {list(modes)}; fix: pass pooling= explicitly")
            info["pooling"] = chosen[0]
        else:
            info["normalize"] = True
    st_config = info["transformer"] / "sentence_bert_config.json"
    if st_config.is_file():
        info["max_length"] = _read_json(st_config).get("max_seq_length")
    info["prompts"], info["default_prompt_name"] = _prompts(folder / "config_sentence_transformers.json")
    return info


def _prompts(path: Path) -> tuple[dict[str, str], str | None]:
    """The named prompts (e5 / bge query and passage prefixes) and the default prompt's name of a
    sentence-transformers repo; checked to be strings, the default among them."""
    if not path.is_file():
        return {}, None
    config = _read_json(path)
    prompts, default = config.get("prompts") or {}, config.get("default_prompt_name")
    if not (isinstance(prompts, dict) and all(isinstance(k, str) and isinstance(v, str) for k, v in prompts.items())):
        raise EncoderError(f"{path}: 'prompts' is {str(prompts)[:120]!r}; expected names mapped to prefix strings; "
                           f"fix: correct the file")
    if default is not None and default not in prompts:
        raise EncoderError(f"{path}: default_prompt_name {default!r} is not among the prompts {sorted(prompts)}; fix: "
                           f"correct the file")
    return dict(prompts), default


def _to_image(item: Any, index: int):
    from PIL import Image, UnidentifiedImageError

    if isinstance(item, Image.Image):
        return item.convert("RGB")
    if isinstance(item, np.ndarray) and item.ndim in (2, 3):
        return Image.fromarray(_image_array(item, index)).convert("RGB")
    if isinstance(item, dict) and ("bytes" in item or "path" in item):  # a datasets Image cell without decoding
        import io

        item = io.BytesIO(item["bytes"]) if item.get("bytes") else item["path"]
    if isinstance(item, (str, Path, bytes)) or hasattr(item, "read"):
        try:
            with Image.open(item) as image:
                if image.width * image.height > MAX_IMAGE_PIXELS:
                    raise EncoderError(f"item {index} ({str(item)[:80]!r}) has {image.width} x {image.height} "
                                       f"pixels; the limit is {MAX_IMAGE_PIXELS:,}; fix: downscale it first")
                return image.convert("RGB")
        except (OSError, UnidentifiedImageError, Image.DecompressionBombError) as err:
            raise EncoderError(f"item {index} ({str(item)[:80]!r}) is not a readable image: {err}; expected an "
                               f"image file, a PIL image or an HxWxC array; fix: check the image column") from err
    raise EncoderError(f"item {index} is a {type(item).__name__}; expected a PIL image, an image path or an "
                       f"HxWxC array for an image encoder; fix: pass the image column, not a text column")


def natural_modality(family: str) -> str:
    """What a checkpoint of `family` (``config.model_type``) reads: ``audio`` for every family transformers lists
    for audio classification, CTC or speech-to-text (or hubstitch reads as audio), ``image`` for every family it
    lists for image classification (or hubstitch reads as images), else ``text``.

    Example:
        >>> natural_modality("audio-spectrogram-transformer"), natural_modality("convnext"), natural_modality("bert")
        ('audio', 'image', 'text')
    """
    from transformers.models.auto import modeling_auto as auto

    audio = {*AUDIO_FAMILIES, *auto.MODEL_FOR_AUDIO_CLASSIFICATION_MAPPING_NAMES, *auto.MODEL_FOR_CTC_MAPPING_NAMES,
             *auto.MODEL_FOR_SPEECH_SEQ_2_SEQ_MAPPING_NAMES}
    image = {*VISION_FAMILIES, *auto.MODEL_FOR_IMAGE_CLASSIFICATION_MAPPING_NAMES} - DUAL_FAMILIES
    return "audio" if family in audio else "image" if family in image else "text"


def _image_array(item: np.ndarray, index: int) -> np.ndarray:
    """An HxW or HxWxC array as uint8 pixels: floats in [0, 1] scaled by 255, values in [0, 255] kept; an empty,
    non-finite or out-of-range array refused (it would otherwise look like a black image)."""
    if item.ndim == 3 and item.shape[2] not in (1, 3, 4):
        raise EncoderError(f"item {index} is an array of shape {item.shape}; expected HxW or HxWxC with 1, 3 or 4 "
                           f"channels last; fix: move the channel axis last (array.transpose(1, 2, 0))")
    if min(item.shape) == 0 or not (np.issubdtype(item.dtype, np.number) or item.dtype == bool):
        raise EncoderError(f"item {index} is an array of shape {item.shape} and dtype {item.dtype}; expected a "
                           f"non-empty numeric image; fix: check the image column")
    if item.dtype == np.uint8:
        return item[..., 0] if item.ndim == 3 and item.shape[2] == 1 else item
    values = item.astype(np.float64)
    if not np.isfinite(values).all():
        raise EncoderError(f"item {index} has NaN or infinite pixel values; expected finite pixels; fix: clean or "
                           f"drop that image")
    low, high = float(values.min()), float(values.max())
    if np.issubdtype(item.dtype, np.floating) and low >= 0 and high <= 1:
        values = values * 255.0  # a float image in [0, 1]
    elif low < 0 or high > 255:
        raise EncoderError(f"item {index} has pixel values from {low:.4g} to {high:.4g}; expected [0, 255] (or floats "
                           f"in [0, 1]); fix: rescale it to 8-bit pixels")
    pixels = np.rint(values).astype(np.uint8)
    return pixels[..., 0] if pixels.ndim == 3 and pixels.shape[2] == 1 else pixels


FILE_SUFFIXES = (".png", ".jpg", ".jpeg", ".gif", ".bmp", ".webp", ".tif", ".tiff", ".wav", ".flac", ".mp3", ".ogg")


def _check_texts(items: list) -> None:
    """Refuse what a text encoder would embed without complaint but wrongly: non-strings, empty strings (all one
    vector), and a column of file paths (the path text, not the image or audio)."""
    for i, item in enumerate(items):
        if not isinstance(item, str):
            raise EncoderError(f"item {i} is a {type(item).__name__}; expected a string for a text encoder; fix: pass "
                               f"the text column, not an image column")
        if not item.strip():
            raise EncoderError(f"item {i} is an empty string ({item!r}); a text encoder gives every empty text one "
                               f"and the same vector; fix: drop the empty rows")
    sample = items[:32]
    if all(" " not in t and t.lower().rstrip().endswith(FILE_SUFFIXES) for t in sample):
        raise EncoderError(f"the items look like file paths of images or audio (item 0: {sample[0][:80]!r}); a text "
                           f"encoder would embed the path's text; fix: use an image or audio encoder for this "
                           f"column, or pass the column of texts")


@contextmanager
def quiet_transformers() -> Iterator[None]:
    """transformers' warnings off for one call (the level is restored after it)."""
    from transformers.utils import logging as transformers_logging

    previous = transformers_logging.get_verbosity()
    transformers_logging.set_verbosity_error()
    try:
        yield
    finally:
        transformers_logging.set_verbosity(previous)


def _position_limit(model, tokenizer) -> int | None:
    """The longest input the model takes when its tokenizer states no limit (transformers says 1e30): longer texts
    are truncated there instead of overflowing the position embeddings."""
    stated = getattr(tokenizer, "model_max_length", None)
    positions = getattr(model.config, "max_position_embeddings", None) or getattr(model.config, "n_positions", None)
    if isinstance(stated, int) and stated < 1_000_000:
        return None  # the tokenizer truncates by itself
    if not isinstance(positions, int):
        return None
    offset = 2 if getattr(model.config, "model_type", "") in ("roberta", "xlm-roberta", "camembert") else 0
    return positions - offset


def _card_license(folder: Path) -> str | None:
    """The license a checkpoint's card states in its metadata, if it has a card."""
    card = folder / "README.md"
    if not card.is_file():
        return None
    try:
        from huggingface_hub.repocard import metadata_load

        value = (metadata_load(card) or {}).get("license")
    except Exception:  # noqa: BLE001 - a malformed card only means the license is unknown
        return None
    return value if isinstance(value, str) else None


def is_single_item(items: Any) -> bool:
    """True for one item rather than a collection: a string, a path, a PIL image, a file object, a dict (a
    ``datasets`` cell), or an HxW / HxWxC array (an N-row array is N items)."""
    if isinstance(items, (str, bytes, Path, dict)) or hasattr(items, "getpixel") or hasattr(items, "read"):
        return True
    if isinstance(items, np.ndarray):
        return items.ndim == 2 or (items.ndim == 3 and items.shape[-1] in (1, 3, 4))
    if isinstance(items, tuple) and len(items) == 2 and isinstance(items[0], np.ndarray):
        return isinstance(items[1], (int, np.integer))  # (waveform, sampling rate): one clip
    return False


class Encoder:
    """Raw items -> float32 latents (n, dim), with a recorded `ref` (model id, commit, modality, pooling, ...)."""

    def __init__(self, model: torch.nn.Module, processor: Any, ref: LatentSpaceRef, *, family: str,
                 max_length: int | None, normalize: bool, device: torch.device) -> None:
        self.model, self.processor, self.ref = model.eval(), processor, ref
        self.family, self.max_length, self.normalize, self.device = family, max_length, normalize, device
        self.folder: Path | None = None  # the checkpoint folder it was loaded from (set by from_pretrained)
        self.sentence_transformers: dict[str, Any] | None = None  # its modules.json reading, if any

    @property
    def dim(self) -> int:
        return self.ref.dim

    @property
    def modality(self) -> str:
        return self.ref.modality or "text"

    def __repr__(self) -> str:
        r = self.ref
        return (f"Encoder({r.model_id!r}, revision={r.revision!r}, modality={r.modality!r}, pooling={r.pooling!r}, "
                f"layer={r.layer}, dim={r.dim})")

    @classmethod
    def from_pretrained(cls, model_id: str | Path, *, revision: str | None = None, modality: str | None = None,
                        pooling: str | None = None, layer: int = -1, device: str | torch.device | None = None,
                        dtype: torch.dtype | None = None, local_files_only: bool | None = None,
                        trust_remote_code: bool = False, cache_dir: str | Path | None = None) -> Encoder:
        """Load a checkpoint by Hub id (``"org/name"`` or ``"org/name@revision"``) or local folder."""
        name, at_revision = split_revision(str(model_id))
        # the checkpoint's own code comes along only when the caller trusts it
        patterns = [*MODEL_PATTERNS, "*.py"] if trust_remote_code else None
        resolved = resolve(name, revision=revision or at_revision, local_files_only=local_files_only,
                           cache_dir=cache_dir, allow_patterns=patterns)
        return cls._load(resolved, modality, pooling, layer, device, dtype, trust_remote_code)

    @classmethod
    def _load(cls, resolved: ResolvedRepo, modality: str | None, pooling: str | None, layer: int,
              device: str | torch.device | None, dtype: torch.dtype | None, trust_remote_code: bool) -> Encoder:
        from transformers import AutoModel

        st = read_sentence_transformers(resolved.folder)
        folder = st["transformer"] if st else resolved.folder
        if not (folder / "config.json").is_file():
            raise EncoderError(f"{resolved.name} has no config.json in {folder}; expected a transformers "
                               f"checkpoint; fix: point at the checkpoint folder")
        family = _read_json(folder / "config.json").get("model_type", "")
        modality = cls._modality(resolved.name, family, modality)
        if pooling == SEQUENCE_POOLING:  # the space of encode_frames: frames need no pooling, encode() its default
            pooling = None
        pooling = pooling or (st and st["pooling"]) or default_pooling(family, modality)
        check_pooling(pooling)
        processor = cls._processor(resolved.name, folder, modality, trust_remote_code)
        device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
        with quiet_transformers():  # its LOAD REPORT lists the classifier a base model drops on purpose
            model = AutoModel.from_pretrained(folder, trust_remote_code=trust_remote_code,
                                              dtype=dtype or torch.float32, local_files_only=True,
                                              use_safetensors=True).to(device)
        if family == "whisper":  # the encoder half: latents of the audio, no decoding
            model = model.get_encoder()
        encoder = cls(model, processor, LatentSpaceRef(model_id=resolved.name, revision=resolved.revision,
                                                       modality=modality, pooling=pooling, layer=layer, dim=0),
                      family=family, max_length=st["max_length"] if st else None,
                      normalize=bool(st and st["normalize"]), device=device)
        encoder.folder, encoder.sentence_transformers = folder, st
        encoder.trust_remote_code = trust_remote_code  # workers that rebuild it (hubstitch.engines) trust the same
        if encoder.max_length is None and modality == "text":
            encoder.max_length = _position_limit(model, processor)
        encoder._check_pooling_and_layer(layer)
        probe = encoder._forward(encoder._probe_batch())
        encoder.ref.dim = int(probe.shape[1])
        encoder.ref.normalization = "l2" if encoder.normalize else None
        encoder.ref.license = _card_license(resolved.folder)
        logger.debug("loaded %r", encoder)
        return encoder

    @staticmethod
    def _modality(name: str, family: str, modality: str | None) -> str:
        if modality is not None and modality not in MODALITIES:
            raise UnknownMethodError(f"modality {modality!r} is not known; expected one of {list(MODALITIES)}")
        if family in DUAL_FAMILIES:
            if modality is None:
                raise EncoderError(f"{name} is a dual encoder ({family}); expected modality='text' or 'image' to "
                                   f"choose its tower; fix: pass modality= (or append :text / :image on the CLI)")
            return modality
        natural = natural_modality(family)
        if natural == "audio" and family not in AUDIO_FAMILIES:
            raise EncoderError(f"{name} is an audio model ({family}) whose inputs hubstitch does not read yet; it "
                               f"reads {sorted(AUDIO_FAMILIES)}; fix: pick a checkpoint of one of those families")
        if modality not in (None, natural):
            article = "an" if natural[0] in "aeiou" else "a"
            raise EncoderError(f"{name} is {article} {natural} model ({family}) but modality={modality!r} was asked; "
                               f"fix: pass modality={natural!r} or choose a {modality} encoder")
        return natural

    @staticmethod
    def _processor(name: str, folder: Path, modality: str, trust_remote_code: bool = False) -> Any:
        """The checkpoint's tokenizer or processor, with `trust_remote_code` passed on (transformers never asks)."""
        if modality == "text":
            if not any((folder / f).is_file() for f in TOKENIZER_FILES):
                raise EncoderError(
                    f"{name} has no tokenizer files in {folder} (looked for {list(TOKENIZER_FILES)}); transformers "
                    f"would silently build a useless tokenizer; fix: add the tokenizer files to the checkpoint"
                )
            from transformers import AutoTokenizer

            return AutoTokenizer.from_pretrained(folder, local_files_only=True, trust_remote_code=trust_remote_code)
        if not (folder / "preprocessor_config.json").is_file():
            raise EncoderError(f"{name} has no preprocessor_config.json in {folder}; expected an {modality} "
                               f"{'feature extractor' if modality == 'audio' else 'processor'}; fix: add the "
                               f"processor config to the checkpoint")
        if modality == "audio":
            from transformers import AutoFeatureExtractor

            return AutoFeatureExtractor.from_pretrained(folder, local_files_only=True,
                                                        trust_remote_code=trust_remote_code)
        from transformers import AutoImageProcessor

        return AutoImageProcessor.from_pretrained(folder, local_files_only=True, trust_remote_code=trust_remote_code)

    def _check_pooling_and_layer(self, layer: int) -> None:
        pooling, name = self.ref.pooling, self.ref.model_id
        dual, cnn = self.family in DUAL_FAMILIES, self.family in CNN_FAMILIES
        if (dual or cnn) and pooling != "pooler":
            raise EncoderError(f"{name} ({self.family}) gives pooled embeddings only; pooling {pooling!r} is not "
                               f"available; fix: use pooling='pooler'")
        if pooling == "pooler" and not (dual or cnn) and getattr(self.model, "pooler", None) is None:
            raise EncoderError(f"{name} ({self.family}) has no pooler layer; pooling 'pooler' is not available; "
                               f"fix: use 'cls' or 'mean'")
        if layer != -1 and (pooling == "pooler" or dual or cnn):
            raise EncoderError(f"layer={layer} with pooling {pooling!r} on {name}: the pooled output exists for the "
                               f"last layer only; fix: use layer=-1, or a token pooling such as 'mean'")
        n_layers = getattr(self.model.config, "num_hidden_layers", None)
        if n_layers is not None and not -n_layers - 1 <= layer <= n_layers:
            raise EncoderError(f"layer={layer} but {name} has {n_layers} layers (hidden states 0..{n_layers}); "
                               f"fix: pick a layer in that range")

    def _probe_batch(self) -> dict[str, torch.Tensor]:
        if self.modality == "text":
            return self._tokenize_batch(["hubstitch"])
        if self.modality == "audio":
            return self._audio_batch([np.zeros(self.processor.sampling_rate, dtype=np.float32)])
        from PIL import Image

        return self._image_batch([Image.new("RGB", (64, 64))])

    def _tokenize_batch(self, texts: list[str]) -> dict[str, torch.Tensor]:
        kwargs = {"max_length": self.max_length} if self.max_length else {}
        return dict(self.processor(texts, padding=True, truncation=True, return_tensors="pt", **kwargs))

    def _image_batch(self, images: list) -> dict[str, torch.Tensor]:
        return dict(self.processor(images=images, return_tensors="pt"))

    def _audio_batch(self, clips: list[np.ndarray]) -> dict[str, torch.Tensor]:
        return audio_batch(self.processor, self.model, self.family, clips)

    def _clips(self, items: list, start: int) -> list[np.ndarray]:
        rate = self.processor.sampling_rate
        return [to_waveform(item, start + i, rate, self.family, self.processor) for i, item in enumerate(items)]

    def _item_list(self, items: Any, batch_size: Any, suggested: int) -> list:
        """`items` as a list (one item: a list of one), after refusing a bare audio array and a bad batch size."""
        if self.modality == "audio" and isinstance(items, np.ndarray):
            raise EncoderError(f"a bare array of shape {items.shape} was passed to an audio encoder; its sampling "
                               f"rate is unknown; fix: pass (array, sampling_rate), or a list of such pairs")
        items = [items] if is_single_item(items) else list(items)
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise EncoderError(f"batch_size={batch_size!r}; expected a whole number of at least 1; fix: pass "
                               f"{suggested}")
        return items

    @property
    def frames_ref(self) -> LatentSpaceRef:
        """The space of this encoder's frame sequences (`encode_frames`): its `ref` with pooling ``"none"``."""
        from dataclasses import replace

        return replace(self.ref, pooling=SEQUENCE_POOLING, normalization=None)

    @torch.inference_mode()
    def _states(self, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        """The encoder's hidden states at its layer, one vector per frame, and the mask of frames that carry audio."""
        batch = {k: v.to(self.device) for k, v in batch.items()}
        frame_mask = batch.pop("frame_mask")
        layer = self.ref.layer if self.ref.layer is not None else -1
        out = self.model(**batch, output_hidden_states=layer != -1)
        states = out.last_hidden_state if layer == -1 else out.hidden_states[layer]
        return states.float().cpu(), frame_mask.cpu()

    def encode_frames(self, items: Any, batch_size: int = 8,
                      progress: bool = True) -> tuple[torch.Tensor, torch.Tensor]:
        """Encode audio `items` to their frame sequences: states (n, frames, dim), float32, every frame the encoder
        gives (Whisper: 1,500, the padding included, as its decoder reads them), and a mask (n, frames), 1 where a
        frame carries the clip. Clips of different lengths are padded to the longest where the encoder allows it.

        Example:
            >>> states, mask = encoder.encode_frames(["clip.wav"])  # doctest: +SKIP
            >>> states.shape, int(mask.sum())  # doctest: +SKIP
            (torch.Size([1, 1500, 384]), 151)
        """
        if self.modality != "audio":
            raise EncoderError(f"{self.ref.model_id} is a {self.modality} encoder; frame sequences come from audio "
                               f"encoders; fix: use encode() for one vector per item")
        items = self._item_list(items, batch_size, suggested=8)
        if not items:
            raise EncoderError("no items to encode; expected a non-empty list; fix: check the dataset split")
        if single_clips(self.processor, self.family):
            batch_size = 1
        states, masks = [], []
        with tqdm(total=len(items), desc=f"encoding frames with {self.ref.model_id}", disable=not progress) as bar:
            for start in range(0, len(items), batch_size):
                chunk = items[start:start + batch_size]
                out, mask = self._states(self._audio_batch(self._clips(chunk, start)))
                states += list(out)
                masks += list(mask)
                bar.update(len(chunk))
        longest = max(s.shape[0] for s in states)
        padded = torch.zeros(len(states), longest, self.dim)
        frame_mask = torch.zeros(len(states), longest, dtype=torch.long)
        for i, (row, mask) in enumerate(zip(states, masks, strict=True)):
            padded[i, :row.shape[0]], frame_mask[i, :mask.shape[0]] = row, mask
        return padded, frame_mask

    @torch.inference_mode()
    def _forward(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        batch = {k: v.to(self.device) for k, v in batch.items()}
        frame_mask = batch.pop("frame_mask", None)  # audio: the encoder frames that carry the clip
        if self.family in DUAL_FAMILIES:
            if self.modality == "text":
                out = self.model.get_text_features(**{k: v for k, v in batch.items() if k != "token_type_ids"})
            else:
                out = self.model.get_image_features(pixel_values=batch["pixel_values"])
            vectors = out if isinstance(out, torch.Tensor) else out.pooler_output
        else:
            layer = self.ref.layer if self.ref.layer is not None else -1
            out = self.model(**batch, output_hidden_states=layer != -1)
            if self.ref.pooling == "pooler":
                vectors = out.pooler_output
                if vectors.ndim == 4:  # some CNNs keep (batch, channels, 1, 1)
                    vectors = vectors.flatten(1)
            else:
                states = out.last_hidden_state if layer == -1 else out.hidden_states[layer]
                mask = frame_mask if frame_mask is not None else batch.get("attention_mask")
                vectors = pool(states, mask, self.ref.pooling)
        vectors = vectors.float()
        if self.normalize:
            vectors = torch.nn.functional.normalize(vectors, dim=-1)
        return vectors.cpu()

    def batches(self, items: Sequence[Any], batch_size: int = 32) -> list[tuple[list[int], dict]]:
        """The model inputs `encode` runs, as (item indices, batch); text is length-sorted to cut padding."""
        items = list(items)
        if not items:
            raise EncoderError("no items to encode; expected a non-empty list; fix: check the dataset split")
        if self.modality == "text":
            _check_texts(items)
            kwargs = {"max_length": self.max_length} if self.max_length else {}
            tokens = self.processor(items, truncation=True, **kwargs)
            order = sorted(range(len(items)), key=lambda i: len(tokens["input_ids"][i]), reverse=True)
            out = []
            for start in range(0, len(order), batch_size):
                idx = order[start:start + batch_size]
                features = [{k: tokens[k][i] for k in tokens.keys()} for i in idx]
                out.append((idx, dict(self.processor.pad(features, return_tensors="pt"))))
            return out
        out = []
        for start in range(0, len(items), batch_size):
            idx = list(range(start, min(start + batch_size, len(items))))
            if self.modality == "audio":
                out.append((idx, self._audio_batch(self._clips([items[i] for i in idx], start))))
            else:
                out.append((idx, self._image_batch([_to_image(items[i], i) for i in idx])))
        return out

    def encode(self, items: Any, batch_size: int = 32, progress: bool = True, *, prompt_name: str | None = None,
               prompt: str | None = None) -> torch.Tensor:
        """Encode `items` (strings; PIL images / image paths / arrays; audio paths / (array, rate) / Audio cells) to
        float32 latents (n, dim).

        A single item (a string, a path, an image, an array) gives one row, as sentence-transformers does. Texts
        get a sentence-transformers repo's prompt as sentence-transformers applies it: `prompt` as given, else the
        prompt named `prompt_name` (e5 / bge: ``"query"``), else the repo's default prompt, if it names one.
        """
        items = self._item_list(items, batch_size, suggested=32)
        prefix = self.prompt_for(prompt_name, prompt)
        if prefix:
            items = [prefix + item if isinstance(item, str) else item for item in items]
        if self.modality in ("image", "audio"):  # decode images and clips lazily, batch by batch
            result = torch.empty(len(items), self.dim) if items else None
            if self.modality == "audio" and single_clips(self.processor, self.family):
                batch_size = 1  # no attention mask: padding would be heard as audio
            with tqdm(total=len(items), desc=f"encoding with {self.ref.model_id}", disable=not progress) as bar:
                for start in range(0, len(items), batch_size):
                    chunk = items[start:start + batch_size]
                    if self.modality == "audio":
                        batch = self._audio_batch(self._clips(chunk, start))
                    else:
                        batch = self._image_batch([_to_image(item, start + i) for i, item in enumerate(chunk)])
                    rows = range(start, start + len(chunk))
                    result[start:start + len(chunk)] = self._finite(self._forward(batch), rows)
                    bar.update(len(chunk))
            if result is None:
                raise EncoderError("no items to encode; expected a non-empty list; fix: check the dataset split")
            return result
        plan = self.batches(items, batch_size)
        result = torch.empty(len(items), self.dim)
        with tqdm(total=len(items), desc=f"encoding with {self.ref.model_id}", disable=not progress) as bar:
            for idx, batch in plan:
                result[idx] = self._finite(self._forward(batch), idx)
                bar.update(len(idx))
        return result

    def prompt_for(self, prompt_name: str | None = None, prompt: str | None = None) -> str:
        """The text prefix `encode` puts before each text (see `encode`); an unknown name is refused."""
        if prompt is not None:
            return prompt
        prompts = (self.sentence_transformers or {}).get("prompts") or {}
        if prompt_name is not None and prompt_name not in prompts:
            raise EncoderError(f"prompt_name={prompt_name!r}; {self.ref.model_id} has the prompts {sorted(prompts)}; "
                               f"fix: pass one of those, or prompt='...'")
        name = prompt_name or (self.sentence_transformers or {}).get("default_prompt_name")
        return prompts.get(name, "") if name else ""

    def _finite(self, vectors: torch.Tensor, rows: Sequence[int]) -> torch.Tensor:
        """`vectors`, after checking that the model gave finite numbers for every item (never a silent NaN)."""
        bad = [rows[i] for i in torch.nonzero(~torch.isfinite(vectors).all(dim=1)).flatten().tolist()]
        if bad:
            raise EncoderError(f"{self.ref.model_id} gave NaN or infinite latents for item(s) {bad[:10]}; expected "
                               f"finite vectors; fix: check those items (a clip or image far out of the usual "
                               f"range), or load the model in float32")
        return vectors
