"""`fit_from_encoders(..., sequence=True)`: from two audio encoders and anchor clips to a sequence translator that
the target checkpoint's own decoder reads (stitched speech recognition).

1. The clips are split into anchors and held-out clips, and encoded by both encoders frame by frame
   (`Encoder.encode_frames`: Whisper gives 1,500 frames per clip on the same 20 ms grid for every size).
2. A per-frame map (ridge by default; `context` neighbours a side) is fitted on the frames of the clips and a sample
   of padding frames (`fit_sequence_translator`).
3. Where the target checkpoint has a decoder (``refine="auto"``), the map is tuned by that decoder's loss
   (`hubstitch.decoders.tuning`): on the anchors' transcripts (`transcript_column`) or, from clips alone, on the
   target model's own transcription of the same clips. A map fitted frame against frame alone does not transcribe
   (Whisper base's decoder on ridge-translated tiny.en frames: WER ~1.0; BENCHMARKS.md).
4. Held-out clips give frame metrics and, with a decoder, the stitched word error rate against their transcripts
   (or against the target model's native transcription), in ``config.metrics``.

Example:
    >>> from hubstitch import AnchorSet, Encoder, fit_from_encoders  # doctest: +SKIP
    >>> tiny = Encoder.from_pretrained("openai/whisper-tiny.en")  # doctest: +SKIP
    >>> base = Encoder.from_pretrained("openai/whisper-base")  # doctest: +SKIP
    >>> clips = AnchorSet.load("clips.jsonl", source_column="audio")  # doctest: +SKIP
    >>> translator = fit_from_encoders(tiny, base, clips, sequence=True, n=256)  # doctest: +SKIP
"""

from __future__ import annotations

import logging
from typing import Any

import torch

from ..data.anchors import AnchorSet, DatasetError
from ..decoders.decoder import DECODER_FAMILIES, Decoder
from ..decoders.tuning import check_tuning, refine_with_decoder
from ..decoders.wer import word_error_rate
from ..encoders.encoder import Encoder
from ..errors import HubstitchValueError
from ..translators.sequence import DEFAULT_PADDING_FRAMES, fit_sequence_translator
from ..translators.translator import Translator

logger = logging.getLogger(__name__)

REFINEMENTS = ("auto", "decoder", "none")


def check_sequence_encoders(source: Encoder, target: Encoder) -> None:
    """Both encoders give frames of audio on the same time grid, or a `HubstitchValueError` with the fix."""
    for side, encoder in (("source", source), ("target", target)):
        if encoder.modality != "audio":
            raise HubstitchValueError(f"the {side} encoder {encoder.ref.model_id} is a {encoder.modality} encoder; "
                                      f"sequence translators pair the frames of audio encoders; fix: pass two audio "
                                      f"encoders, or drop sequence=True")
    grids = {side: (e.family, getattr(e.model.config, "max_source_positions", None),
                    getattr(e.processor, "hop_length", None)) for side, e in (("source", source), ("target", target))}
    if grids["source"] != grids["target"]:
        raise HubstitchValueError(f"the encoders' frame grids differ (family, frames, hop: source {grids['source']}, "
                                  f"target {grids['target']}); expected frames of the same clip on one time grid "
                                  f"(every Whisper size shares one); fix: resample one side's frames to the other's "
                                  f"and fit with fit_sequence_translator")


def _transcripts(anchors: AnchorSet, column: str | None) -> list[str] | None:
    if column is None:
        return None
    if column not in anchors.dataset.column_names:
        raise DatasetError(f"transcript column {column!r} is not in the anchors; they have "
                           f"{anchors.dataset.column_names}; fix: pass one of those, or no transcript column (the "
                           f"target model's own transcription is used)")
    return [str(text) for text in anchors.column(column)]


def fit_sequence_from_encoders(source: Encoder, target: Encoder, anchors: AnchorSet, *, n: int | None = None,
                               selection: str = "random", holdout: float | int = 0.2, seed: int = 0,
                               method: str = "linear", context: int = 0,
                               padding_frames: int = DEFAULT_PADDING_FRAMES, transcript_column: str | None = None,
                               refine: str = "auto", decoder: Decoder | None = None, epochs: int = 3,
                               lr: float = 1e-3, batch_size: int = 8, language: str = "en",
                               progress: bool = True, **options: Any) -> Translator:
    """See the module docstring; `fit_from_encoders(..., sequence=True)` calls this."""
    check_sequence_encoders(source, target)
    if refine not in REFINEMENTS:
        raise HubstitchValueError(f"refine={refine!r}; expected one of {list(REFINEMENTS)}")
    check_tuning(epochs, lr, batch_size)
    if refine == "decoder" and decoder is None and target.family not in DECODER_FAMILIES:
        raise HubstitchValueError(f"refine='decoder' but {target.ref.model_id} ({target.family}) has no generating "
                                  f"decoder here; fix: pass decoder=Decoder.from_pretrained(...) or refine='none'")
    if n is not None and (isinstance(n, bool) or not isinstance(n, int) or n < 1):
        raise HubstitchValueError(f"n={n!r} clips; expected a whole number of at least 1, or None for all")
    _transcripts(anchors, transcript_column)  # a missing column is refused before any work
    pool, heldout = anchors.split_holdout(holdout, seed=seed, n=n)
    chosen = pool.select(n or len(pool), seed=seed, selection=selection)
    logger.info("encoding %d anchor clips%s with both encoders, frame by frame", len(chosen),
                f" and {len(heldout)} held-out clips" if heldout is not None else "")
    x, mask = source.encode_frames(chosen.source_items(), batch_size=batch_size, progress=progress)
    y, _ = target.encode_frames(chosen.target_items(), batch_size=batch_size, progress=progress)
    eval_x = eval_y = eval_mask = None
    if heldout is not None:
        eval_x, eval_mask = source.encode_frames(heldout.source_items(), batch_size=batch_size, progress=progress)
        eval_y, _ = target.encode_frames(heldout.target_items(), batch_size=batch_size, progress=progress)
    translator = fit_sequence_translator(x, y, mask, method=method, context=context, padding_frames=padding_frames,
                                         eval_source=eval_x, eval_target=eval_y, eval_mask=eval_mask, seed=seed,
                                         source_ref=source.frames_ref, target_ref=target.frames_ref,
                                         anchors=chosen.provenance, **options)
    if refine == "none" or (refine == "auto" and decoder is None and target.family not in DECODER_FAMILIES):
        return translator
    if decoder is None:
        decoder = Decoder.from_encoder(target)
    transcripts, source_of_text = _transcripts(chosen, transcript_column), "given"
    if transcripts is None:
        logger.info("transcribing the %d anchor clips with %s itself (no transcript column)", len(chosen),
                    target.ref.model_id)
        transcripts = decoder.generate(y, batch_size=batch_size, progress=progress, language=language)
        source_of_text = "target-model"
    keep = [i for i, text in enumerate(transcripts) if text.strip()]
    if not keep:
        raise HubstitchValueError("every anchor transcript is empty; expected speech in the anchor clips; fix: "
                                  "check the audio column, or pass transcript_column")
    tuned = refine_with_decoder(translator, x[keep], [transcripts[i] for i in keep], decoder, epochs=epochs, lr=lr,
                                batch_size=batch_size, seed=seed, transcript_source=source_of_text,
                                language=language, progress=progress)
    if eval_x is not None:
        _heldout_wer(tuned, translator, decoder, eval_x, eval_y, heldout, transcript_column, batch_size, language)
    return tuned


def _heldout_wer(tuned: Translator, plain: Translator, decoder: Decoder, eval_x: torch.Tensor, eval_y: torch.Tensor,
                 heldout: AnchorSet, transcript_column: str | None, batch_size: int, language: str) -> None:
    """Held-out word error rates of the tuned and the untuned map (and the target natively) into the metrics, all
    generated with the language the map was tuned with (a multilingual decoder would otherwise guess it)."""
    references = _transcripts(heldout, transcript_column)
    native = decoder.generate(eval_y, batch_size=batch_size, language=language)
    against = "transcripts"
    if references is None:
        references, against = native, "target-model transcription"
    keep = [i for i, text in enumerate(references) if text.strip()]
    if not keep:
        return
    rows = torch.tensor(keep)
    stitched = decoder.generate(tuned(eval_x[rows]), batch_size=batch_size, language=language)
    untuned = decoder.generate(plain(eval_x[rows]), batch_size=batch_size, language=language)
    wer = {"stitched": word_error_rate([references[i] for i in keep], stitched),
           "untuned": word_error_rate([references[i] for i in keep], untuned),
           "clips": len(keep), "against": against}
    if against == "transcripts":
        wer["target_native"] = word_error_rate([references[i] for i in keep], [native[i] for i in keep])
    tuned.config.metrics["heldout_wer"] = {k: round(v, 4) if isinstance(v, float) else v for k, v in wer.items()}
    logger.info("held-out WER on %d clips (against %s): stitched %.3f, untuned map %.3f", len(keep), against,
                wer["stitched"], wer["untuned"])
