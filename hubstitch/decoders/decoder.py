"""`Decoder`: the generating half of an encoder-decoder checkpoint, fed encoder states from anywhere.

A stitched speech recogniser runs one checkpoint's encoder, a sequence translator, and another checkpoint's decoder.
`Decoder` loads that decoder by Hub id (pinned to a commit, like `Encoder`), and generates through transformers'
``generate(encoder_outputs=...)`` with the checkpoint's own generation config (its language and task prompt,
suppressed tokens, length limit): greedy or beam search, ``max_new_tokens``. Nothing in the interface is
Whisper-specific; the families it loads are listed in `DECODER_FAMILIES`.

Example:
    >>> from hubstitch import Decoder, Encoder  # doctest: +SKIP
    >>> encoder = Encoder.from_pretrained("openai/whisper-tiny.en")  # doctest: +SKIP
    >>> decoder = Decoder.from_pretrained("openai/whisper-tiny.en")  # doctest: +SKIP
    >>> states, mask = encoder.encode_frames(["clip.wav"])  # doctest: +SKIP
    >>> decoder.generate(states)  # doctest: +SKIP
    [' Please open the window.']
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import torch
from huggingface_hub.utils import tqdm

from ..encoders.encoder import TOKENIZER_FILES, quiet_transformers
from ..encoders.pooling import SEQUENCE_POOLING
from ..errors import HubstitchValueError
from ..hub.files import MODEL_PATTERNS, ResolvedRepo, resolve, split_revision
from ..spaces import LatentSpaceRef

logger = logging.getLogger(__name__)

# model_type -> (the modality its encoder reads, the transformers auto class that builds the whole model)
DECODER_FAMILIES = {"whisper": ("audio", "AutoModelForSpeechSeq2Seq")}
TEXT_PREFIX = {"whisper": " "}  # how the family's transcripts begin (Whisper's text tokens carry a leading space)
GENERATE_OPTIONS = ("num_beams", "max_new_tokens", "language", "task", "do_sample", "length_penalty",
                    "no_repeat_ngram_size", "repetition_penalty")


class DecoderError(HubstitchValueError):
    """A checkpoint, encoder states or generation option that a `Decoder` cannot work with."""


def check_generate_options(options: dict[str, Any]) -> dict[str, Any]:
    """`options` if every name is one `Decoder.generate` takes and every value is a plain JSON scalar."""
    unknown = sorted(set(options) - set(GENERATE_OPTIONS))
    if unknown:
        raise DecoderError(f"generation options {unknown} are not known; expected some of {list(GENERATE_OPTIONS)}")
    for name, value in options.items():
        if not (value is None or isinstance(value, (str, int, float, bool))):
            raise DecoderError(f"generation option {name}={value!r}; expected a string, number or boolean")
    return dict(options)


class Decoder:
    """Encoder states (n, frames, dim) -> generated texts, through one checkpoint's decoder."""

    def __init__(self, model: torch.nn.Module, tokenizer: Any, ref: LatentSpaceRef, *, family: str,
                 device: torch.device, generate_options: dict[str, Any] | None = None) -> None:
        self.model, self.tokenizer, self.ref, self.family, self.device = model.eval(), tokenizer, ref, family, device
        self.generate_options = check_generate_options(generate_options or {})
        self.folder: Path | None = None

    @property
    def dim(self) -> int:
        return self.ref.dim

    def __repr__(self) -> str:
        ref = self.ref
        return f"Decoder({ref.model_id!r}, revision={ref.revision!r}, family={self.family!r}, dim={ref.dim})"

    @classmethod
    def from_pretrained(cls, model_id: str | Path, *, revision: str | None = None, device: str | None = None,
                        dtype: torch.dtype | None = None, local_files_only: bool | None = None,
                        trust_remote_code: bool = False, cache_dir: str | Path | None = None,
                        **generate_options: Any) -> Decoder:
        """Load the decoder of an encoder-decoder checkpoint by Hub id (``"org/name"``, ``"org/name@rev"``) or
        local folder; the revision is resolved to its commit and recorded. `generate_options` (``language="en"``,
        ``num_beams=4``, ...) become this decoder's defaults."""
        name, at_revision = split_revision(str(model_id))
        patterns = [*MODEL_PATTERNS, "*.py"] if trust_remote_code else None
        resolved = resolve(name, revision=revision or at_revision, local_files_only=local_files_only,
                           cache_dir=cache_dir, allow_patterns=patterns)
        return cls._load(resolved, device, dtype, trust_remote_code, generate_options)

    @classmethod
    def from_encoder(cls, encoder: Any, **generate_options: Any) -> Decoder:
        """The decoder of the checkpoint an `Encoder` was loaded from (its folder, read again), recorded under the
        encoder's own id and pinned revision."""
        if encoder.folder is None:
            raise DecoderError(f"{encoder!r} was not loaded from a checkpoint folder; fix: use "
                               f"Decoder.from_pretrained(id)")
        return cls._load(ResolvedRepo(folder=encoder.folder, name=encoder.ref.model_id,
                                         revision=encoder.ref.revision, is_local=False),
                            str(encoder.device), None, getattr(encoder, "trust_remote_code", False), generate_options)

    @classmethod
    def _load(cls, resolved: ResolvedRepo, device: str | None, dtype: torch.dtype | None, trust_remote_code: bool,
              generate_options: dict[str, Any]) -> Decoder:
        import json

        import transformers

        config_file = resolved.folder / "config.json"
        try:
            config = json.loads(config_file.read_text(encoding="utf-8"))
        except (OSError, ValueError) as err:
            raise DecoderError(f"{resolved.name} has no readable config.json ({err}); expected a transformers "
                               f"encoder-decoder checkpoint") from err
        family = config.get("model_type", "")
        if family not in DECODER_FAMILIES:
            raise DecoderError(f"{resolved.name} is a {family!r} checkpoint; hubstitch decodes from "
                               f"{sorted(DECODER_FAMILIES)} (encoder-decoder models that take encoder_outputs); "
                               f"fix: pick such a checkpoint, or a ClassifierHead for a classifier")
        modality, auto_class = DECODER_FAMILIES[family]
        if not any((resolved.folder / f).is_file() for f in TOKENIZER_FILES):
            raise DecoderError(f"{resolved.name} has no tokenizer files (looked for {list(TOKENIZER_FILES)}); a "
                               f"decoder needs one to turn its tokens into text; fix: add them to the checkpoint")
        device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
        with quiet_transformers():
            model = getattr(transformers, auto_class).from_pretrained(
                resolved.folder, trust_remote_code=trust_remote_code, dtype=dtype or torch.float32,
                local_files_only=True, use_safetensors=True).to(device)
            tokenizer = transformers.AutoTokenizer.from_pretrained(resolved.folder, local_files_only=True,
                                                                   trust_remote_code=trust_remote_code)
        dim = int(model.config.d_model)
        ref = LatentSpaceRef(model_id=resolved.name, revision=resolved.revision, modality=modality,
                             pooling=SEQUENCE_POOLING, layer=-1, dim=dim)
        decoder = cls(model, tokenizer, ref, family=family, device=device, generate_options=generate_options)
        decoder.folder = resolved.folder
        logger.debug("loaded %r", decoder)
        return decoder

    @property
    def multilingual(self) -> bool:
        """True where the checkpoint's prompt names a language (and a task); English-only checkpoints take none."""
        return bool(getattr(self.model.generation_config, "is_multilingual", False))

    def language_for(self, language: str | None = None) -> str | None:
        """The language a prompt names: `language`, else this decoder's, else English; None for an English-only
        checkpoint."""
        return (language or self.generate_options.get("language") or "en") if self.multilingual else None

    def prompt_ids(self, language: str | None = None) -> list[int]:
        """The tokens generation starts from with this decoder's options: the decoder start token, then (for a
        multilingual Whisper) the language (`language_for`) and task, and the no-timestamps token where the
        checkpoint has one."""
        config = self.model.generation_config
        ids = [int(config.decoder_start_token_id)]
        language = self.language_for(language)
        if language:
            token = language if language.startswith("<|") else f"<|{language}|>"
            lang_to_id = getattr(config, "lang_to_id", None) or {}
            if token not in lang_to_id:
                raise DecoderError(f"language {language!r} is not one of {self.ref.model_id}'s; expected one of "
                                   f"{sorted(lang_to_id)[:8]}...; fix: pass a language code such as 'en'")
            ids += [int(lang_to_id[token]), int(config.task_to_id[self.generate_options.get("task") or "transcribe"])]
        if getattr(config, "no_timestamps_token_id", None) is not None:
            ids.append(int(config.no_timestamps_token_id))
        return ids

    def token_sequences(self, texts: list[str], language: str | None = None) -> list[list[int]]:
        """Each text as the full token sequence the decoder would generate: the prompt, the text, the end token."""
        end = int(self.model.generation_config.eos_token_id)
        prefix = TEXT_PREFIX.get(self.family, "")
        prompt = self.prompt_ids(language)
        sequences = []
        for i, text in enumerate(texts):
            if not isinstance(text, str) or not text.strip():
                raise DecoderError(f"transcript {i} is {text!r}; expected a non-empty text; fix: drop the clip or "
                                   f"give its transcript")
            tokens = self.tokenizer(prefix + text.strip(), add_special_tokens=False)["input_ids"]
            sequences.append(prompt + list(tokens) + [end])
        return sequences

    @property
    def frames(self) -> int:
        """How many encoder frames the decoder attends over (Whisper: 1,500 for 30 s)."""
        return int(self.model.config.max_source_positions)

    def check_states(self, states: Any) -> torch.Tensor:
        """`states` as a float tensor (n, frames, dim), refused with the fix where its shape is not that."""
        if not isinstance(states, torch.Tensor):
            states = torch.as_tensor(states)
        if states.ndim != 3 or states.shape[1:] != (self.frames, self.dim):
            raise DecoderError(f"encoder states of shape {tuple(states.shape)}; {self.ref.model_id}'s decoder "
                               f"reads (n, {self.frames}, {self.dim}); fix: pass one row of frames per clip from an "
                               f"encoder of width {self.dim} (or through a sequence translator into it)")
        if not torch.isfinite(states).all():
            raise DecoderError("encoder states hold NaN or infinite values; expected finite numbers; fix: check the "
                               "encoder and translator that made them")
        return states.float()

    @torch.inference_mode()
    def generate_ids(self, states: Any, *, batch_size: int = 8, progress: bool = False,
                     **generate_options: Any) -> list[list[int]]:
        """The generated token ids for each row of `states` (n, frames, dim), prompt excluded (`generate` decodes
        them)."""
        from transformers.modeling_outputs import BaseModelOutput

        states = self.check_states(states)
        options = {**self.generate_options, **check_generate_options(generate_options)}
        if not self.multilingual:
            options.pop("language", None)  # an English-only checkpoint takes no language token
            options.pop("task", None)
        # a bound of the checkpoint's own (its positions less the prompt): generate's own default can run past it
        limit = int(self.model.config.max_target_positions) - len(self.prompt_ids())
        options["max_new_tokens"] = min(int(options.get("max_new_tokens") or limit), limit)
        generated: list[list[int]] = []
        bar = tqdm(total=len(states), desc=f"generating with {self.ref.model_id}", disable=not progress)
        with quiet_transformers(), bar:
            for start in range(0, len(states), batch_size):
                chunk = states[start:start + batch_size].to(self.device)
                ids = self.model.generate(encoder_outputs=BaseModelOutput(last_hidden_state=chunk), **options)
                generated += [row.tolist() for row in ids.cpu()]
                bar.update(len(chunk))
        return generated

    def generate(self, states: Any, *, batch_size: int = 8, progress: bool = False,
                 **generate_options: Any) -> list[str]:
        """Texts generated from `states` (n, frames, dim), one per row: greedy unless ``num_beams`` > 1, with the
        checkpoint's generation config and this decoder's defaults, overridden by `generate_options`."""
        ids = self.generate_ids(states, batch_size=batch_size, progress=progress, **generate_options)
        return [text.strip() for text in self.tokenizer.batch_decode(ids, skip_special_tokens=True)]
