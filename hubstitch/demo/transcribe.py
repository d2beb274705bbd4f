"""The demo's Transcribe tab: one clip through Whisper tiny.en, Whisper base, and the stitched pipeline (tiny.en's
encoder -> a sequence translator -> base's decoder), side by side, each with the time it took.

The stitched translator is fitted once, on the first request, from spoken BBC News titles (synthetic espeak-ng
speech on the shelf, with their transcripts) and kept in the workspace, so a second start reads it from disk.

Example:
    >>> from hubstitch.demo.transcribe import DemoTranscriber  # doctest: +SKIP
    >>> DemoTranscriber(stages, n_clips=256).transcribe("clip.wav")  # doctest: +SKIP
    {'Whisper tiny.en': ('Please open the window.', 0.41), ...}
"""

from __future__ import annotations

import logging
import time
from typing import Any

from ..shelf.models import AUDIO_ENCODERS

logger = logging.getLogger(__name__)

TINY, BASE = AUDIO_ENCODERS
STITCHED = "tiny.en's encoder -> translator -> base's decoder (stitched)"
FOLDER = "whisper-tiny.en-to-base-asr"


class DemoTranscriber:
    """Native Whisper tiny.en, native base and the stitched pipeline, built once and shared."""

    def __init__(self, stages, n_clips: int = 256, epochs: int = 3, source: str = TINY, target: str = BASE) -> None:
        self.stages, self.n_clips, self.epochs, self.source, self.target = stages, n_clips, epochs, source, target
        self.names = {f"Whisper {self._short(source)} (native)": source,
                      f"Whisper {self._short(target)} (native)": target}

    @staticmethod
    def _short(model_id: str) -> str:
        return model_id.rsplit("whisper-", 1)[-1].removesuffix("-ct2")

    def _decoder(self, model_id: str):
        from ..decoders.decoder import Decoder

        encoder = self.stages.encoder(model_id)
        options = {"language": "en", "task": "transcribe"}
        return self.stages._once(f"decoder:{model_id}", lambda: Decoder.from_encoder(encoder, **options))

    def pipelines(self) -> dict[str, Any]:
        """{display name: pipeline}: the two native ones and the stitched one (fitted on first use)."""
        from ..pipelines.pipeline import StitchedPipeline

        out = {name: self.stages._once(f"asr:{model_id}", lambda m=model_id: StitchedPipeline(
            self.stages.encoder(m), None, self._decoder(m))) for name, model_id in self.names.items()}
        out[STITCHED] = self.stages._once("asr:stitched", lambda: StitchedPipeline(
            self.stages.encoder(self.source), self._translator(), self._decoder(self.target)))
        return out

    def _translator(self):
        from ..translators.translator import Translator

        folder = self.stages.workspace / FOLDER
        if (folder / "model.safetensors").is_file():
            return Translator.from_pretrained(folder)
        from ..data.anchors import AnchorSet
        from ..shelf.datasets import install_datasets
        from ..workflows.fit import fit_from_encoders

        spoken = install_datasets(["spoken_bbc"], self.stages.datasets_dir)["spoken_bbc"]
        anchors = AnchorSet.load(str(spoken), source_column="audio")
        logger.info("fitting the demo's tiny.en -> base speech translator on %d spoken titles", self.n_clips)
        translator = fit_from_encoders(self.stages.encoder(self.source), self.stages.encoder(self.target), anchors,
                                       sequence=True, transcript_column="text", n=self.n_clips, holdout=20,
                                       seed=self.stages.seed, epochs=self.epochs, progress=False,
                                       decoder=self._decoder(self.target))
        translator.save_pretrained(folder)
        return translator

    def transcribe(self, clip) -> dict[str, tuple[str, float]]:
        """{display name: (text, seconds)} for one clip (a path or (samples, rate)), one pipeline at a time."""
        answers = {}
        for name, pipe in self.pipelines().items():
            with self.stages._encoder_lock(pipe.encoder):
                start = time.perf_counter()
                text = pipe([clip])[0]["text"]
                answers[name] = (text, round(time.perf_counter() - start, 2))
        return answers
