"""Tuning a sequence translator by the target decoder's own loss (LiMBeR / ClipCap style): the map is trained so
that the frozen decoder, reading the translated frames, predicts the anchor clips' transcripts.

A map fitted frame against frame (ridge) lands near the target frames but not where a cross-attention decoder reads
them: Whisper base's decoder on ridge-translated tiny.en frames emits " 5" for every clip (WER ~1.0). Starting from
that map, a few epochs of next-token cross-entropy through the frozen decoder, with only the map's own tensors
trained, make it usable. The transcripts are the anchors' own (``transcript_column``) or, from clips alone, the
target model's native transcription of the same clips (distillation from the pipeline being stitched into).

Example:
    >>> from hubstitch.decoders.tuning import refine_with_decoder  # doctest: +SKIP
    >>> refine_with_decoder(translator, source_states, ["ad sales boost time warner profit", ...],
    ...                     decoder, epochs=3)  # doctest: +SKIP
"""

from __future__ import annotations

import copy
import logging
import math
from typing import Any

import torch
from huggingface_hub.utils import tqdm

from ..errors import HubstitchValueError
from ..math.sequence import check_sequences
from ..translators.translator import Translator
from .decoder import Decoder

logger = logging.getLogger(__name__)

TUNABLE = ("linear", "affine", "mlp")  # maps whose tensors a gradient step may change without breaking a constraint


def check_tuning(epochs: Any, lr: Any, batch_size: Any) -> None:
    for name, value, low in (("epochs", epochs, 1), ("batch_size", batch_size, 1)):
        if isinstance(value, bool) or not isinstance(value, int) or value < low:
            raise HubstitchValueError(f"{name}={value!r}; expected a whole number of at least {low}")
    if isinstance(lr, bool) or not isinstance(lr, (int, float)) or not 0 < lr < 1:
        raise HubstitchValueError(f"lr={lr!r}; expected a learning rate in (0, 1), e.g. 1e-3")


def _batch(decoder: Decoder, sequences: list[list[int]]) -> tuple[torch.Tensor, torch.Tensor]:
    """Teacher-forcing inputs (every token but the last) and targets (every token after the prompt), padded."""
    prompt = len(decoder.prompt_ids())  # its length: the language does not change it
    longest = max(len(s) for s in sequences) - 1
    pad = decoder.model.config.pad_token_id or 0
    inputs = torch.full((len(sequences), longest), pad, dtype=torch.long)
    targets = torch.full((len(sequences), longest), -100, dtype=torch.long)
    for i, sequence in enumerate(sequences):
        tokens = torch.tensor(sequence)
        inputs[i, :len(sequence) - 1] = tokens[:-1]
        targets[i, prompt - 1:len(sequence) - 1] = tokens[prompt:]
    return inputs, targets


def decoder_loss(translator: Translator, decoder: Decoder, states: torch.Tensor,
                 sequences: list[list[int]]) -> torch.Tensor:
    """Mean next-token cross-entropy of `decoder` reading `translator(states)`, over the transcript tokens."""
    out = translator.translate_frames(states, differentiable=True).float().to(decoder.device)
    inputs, targets = _batch(decoder, sequences)
    logits = decoder.model(encoder_outputs=(out,), decoder_input_ids=inputs.to(decoder.device)).logits
    return torch.nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]).float(),
                                             targets.reshape(-1).to(logits.device))


def refine_with_decoder(translator: Translator, states, transcripts: list[str], decoder: Decoder, *,
                        epochs: int = 3, lr: float = 1e-3, batch_size: int = 8, seed: int = 0,
                        transcript_source: str = "given", language: str | None = None,
                        progress: bool = True) -> Translator:
    """A copy of `translator` (kind ``sequence``; a linear, affine or mlp map) whose map is trained so that the
    frozen `decoder` reading its output predicts `transcripts` from the source `states` (n, frames, d_s).

    The map's own tensors are the only ones trained (AdamW, `lr`, `epochs` passes over the clips in seeded
    order). A ``linear`` map gains a bias and is saved as ``affine``; the refinement (decoder, epochs, the loss per
    epoch, where the transcripts came from) is recorded in ``config.refinement``.
    """
    check_tuning(epochs, lr, batch_size)
    if translator.kind != "sequence":
        raise HubstitchValueError("tuning by a decoder's loss applies to sequence translators; fix: fit one with "
                                  "fit_from_encoders(..., sequence=True)")
    if translator.config.method not in TUNABLE:
        raise HubstitchValueError(f"a {translator.config.method!r} map cannot be tuned by gradient without breaking "
                                  f"what makes it one; expected one of {list(TUNABLE)}; fix: fit with method='linear'")
    states = check_sequences(states, "source states")
    if len(transcripts) != len(states) or not states.shape[0]:
        raise HubstitchValueError(f"{len(transcripts)} transcripts for {len(states)} clips; expected one per clip")
    if translator.config.target.dim != decoder.dim:
        raise HubstitchValueError(f"the translator gives width {translator.config.target.dim} but "
                                  f"{decoder.ref.model_id}'s decoder reads {decoder.dim}; fix: fit the translator "
                                  f"into that decoder's encoder")
    language = decoder.language_for(language)
    sequences = decoder.token_sequences(transcripts, language)
    tuned = copy.deepcopy(translator)
    tensors = [t for t in [*tuned.translation.map.parameters(), *tuned.translation.map.buffers()]
               if t.is_floating_point()]
    for tensor in tensors:
        tensor.requires_grad_(True)
    for parameter in decoder.model.parameters():
        parameter.requires_grad_(False)
    optimizer = torch.optim.AdamW(tensors, lr=lr, weight_decay=0.0)
    generator = torch.Generator().manual_seed(seed)
    losses = []
    steps = epochs * math.ceil(len(states) / batch_size)
    decoder.model.eval()  # no dropout in the frozen decoder: the map is fitted to the decoder as it will run
    with torch.enable_grad(), tqdm(total=steps, desc="tuning the translator by the decoder's loss",
                                   disable=not progress) as bar:
        for _ in range(epochs):
            order, total = torch.randperm(len(states), generator=generator), 0.0
            for start in range(0, len(states), batch_size):
                rows = order[start:start + batch_size]
                loss = decoder_loss(tuned, decoder, states[rows], [sequences[i] for i in rows.tolist()])
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
                total += float(loss.detach()) * len(rows)
                bar.update(1)
            losses.append(round(total / len(states), 4))
            logger.info("decoder-loss epoch %d: %.4f", len(losses), losses[-1])
    for tensor in tensors:
        tensor.requires_grad_(False)
    if tuned.config.method == "linear":  # the bias is trained too: the map is affine now
        options = {k: v for k, v in tuned.config.options.items() if k != "alpha"}
        tuned.config.method = tuned.translation.method = "affine"
        tuned.config.options = tuned.translation.options = options
    tuned.config.refinement = {
        "objective": "decoder-loss", "decoder": {"model_id": decoder.ref.model_id, "revision": decoder.ref.revision},
        "transcripts": transcript_source, "clips": len(states), "epochs": epochs, "lr": lr,
        "batch_size": batch_size, "seed": seed, "loss_per_epoch": losses,
        **({"language": language} if language else {})}
    return tuned.eval()
