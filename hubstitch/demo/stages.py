"""The stages the demo offers, built on the offline model shelf and kept in a workspace folder.

`DemoStages` loads encoders by Hub id (shelf ids resolve offline), builds the demo's translators and heads once
(fitted on Fashion-MNIST images with captions, and on short product texts) and saves them under `workspace`, so a
second start reads them from disk. Anything else (a Hub id or a local folder of a translator, head or stitched
pipeline) can be added by name.

Example:
    >>> from hubstitch.demo.stages import DemoStages  # doctest: +SKIP
    >>> stages = DemoStages("demo-workspace", n_anchors=500)  # doctest: +SKIP
    >>> stages.pipeline(DEFAULT_PIPELINE)([image])  # doctest: +SKIP
    [[{'label': 'Sneaker', 'score': 0.71}]]
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path
from typing import Any

from ..errors import HubstitchValueError
from ..shelf.fashion_text import CAPTION_TEMPLATES, CLASS_NOUNS, captions, product_descriptions
from ..shelf.models import IMAGE_ENCODER, TEXT_ENCODERS
from ..spaces import is_hub_id

logger = logging.getLogger(__name__)

MINILM, MPNET = TEXT_ENCODERS
ENCODERS = {"MobileNetV2 (images, ImageNet)": IMAGE_ENCODER, "all-MiniLM-L6-v2 (text)": MINILM,
            "all-mpnet-base-v2 (text)": MPNET}
# the values name the workspace folders; "-aimed": fitted with the fashion head's descriptions as target_reference
IMAGE_TO_TEXT = "MobileNetV2 -> MiniLM (Fashion-MNIST image-caption anchors)"
TRANSLATORS = {IMAGE_TO_TEXT: "mobilenet-to-minilm-aimed",
               "MPNet -> MiniLM (product texts and captions)": "mpnet-to-minilm"}
HEADS = {"Fashion products, MiniLM space (trained on product descriptions)": "fashion-head-minilm",
         "Fashion products, MPNet space (trained on product descriptions)": "fashion-head-mpnet",
         "ImageNet classes (MobileNetV2's own classifier)": IMAGE_ENCODER}
DEFAULT_PIPELINE = "Fashion-MNIST images -> MiniLM text classifier (zero-shot)"
NO_TRANSLATOR = "(none: the head reads the encoder's space)"


class DemoStages:
    """Encoders, translators, heads and pipelines by display name, loaded once and shared (thread-safe)."""

    def __init__(self, workspace: str | Path, n_anchors: int = 1000, seed: int = 0,
                 local_files_only: bool | None = None, hub_cache: str | Path | None = None,
                 datasets_dir: str | Path | None = None, allow_local_paths: bool = True) -> None:
        self.workspace, self.n_anchors, self.seed = Path(workspace), n_anchors, seed
        self.allow_local_paths = allow_local_paths  # False on a public Space: visitors name Hub ids only
        self.local_files_only, self.hub_cache, self.datasets_dir = local_files_only, hub_cache, datasets_dir
        self._lock = threading.RLock()
        self._loaded: dict[str, Any] = {}
        self._encoder_locks: dict[int, threading.Lock] = {}
        self.extra_pipelines: dict[str, str] = {}

    # --- loading ------------------------------------------------------------------------------------------
    def _check_location(self, name: str) -> str:
        """A name typed by a visitor: a Hub id, or (when allowed) a local folder."""
        if is_hub_id(name) or (self.allow_local_paths and Path(name).expanduser().is_dir()):
            return name
        expected = "a Hub id 'org/name'" + (" or an existing local folder" if self.allow_local_paths else "")
        raise HubstitchValueError(f"{name!r} is not one of the listed stages; expected {expected}")

    def _encoder_lock(self, encoder) -> threading.Lock:
        """One lock per encoder: fast tokenizers are not safe to share across threads (padding and truncation
        settings are mutable state), and the queue runs several requests at once."""
        with self._lock:
            return self._encoder_locks.setdefault(id(encoder), threading.Lock())

    def run(self, pipeline, item, top_k: int):
        """`pipeline(item, top_k)`, one call at a time per encoder."""
        with self._encoder_lock(pipeline.encoder):
            return pipeline(item, top_k=top_k)

    def encode(self, encoder, items):
        """`encoder.encode(items)`, one call at a time per encoder."""
        with self._encoder_lock(encoder):
            return encoder.encode(items)

    def _once(self, key: str, build):
        with self._lock:
            if key not in self._loaded:
                self._loaded[key] = build()
            return self._loaded[key]

    def encoder(self, model_id: str):
        from ..encoders.encoder import Encoder

        model_id = ENCODERS.get(model_id) or self._check_location(model_id)

        def build():
            self._install_if_shelved(model_id)
            return Encoder.from_pretrained(model_id, local_files_only=self.local_files_only, cache_dir=self.hub_cache)

        return self._once(f"encoder:{model_id}", build)

    def _install_if_shelved(self, model_id: str) -> None:
        """Seed the Hub cache with `model_id` when it is a shelf checkpoint that cannot come from the Hub (called
        while building, under the lock): a conversion made here always, a real Hub id only offline. Where the Hub
        answers (a networked Space), MiniLM and MPNet load from it by id, so what is fitted on them pins the Hub's
        own commits, never the shelf's offline-only ones."""
        from ..hub.client import hub_reachable
        from ..shelf.models import CONVERSIONS, SHELF, install_shelf

        if model_id not in SHELF:
            return
        if SHELF[model_id].layout not in CONVERSIONS and not self.local_files_only and hub_reachable():
            logger.info("%s loads from the Hub, which answers here (the shelf's copy is for offline use)", model_id)
            return
        install_shelf([model_id], cache_dir=self.hub_cache)

    def fashion_anchors(self, n: int | None = None):
        """`n` stratified Fashion-MNIST training images and one caption each (written from the class)."""
        from ..shelf.datasets import fashion_mnist

        anchors = fashion_mnist("train", n or self.n_anchors, seed=self.seed, root=self.datasets_dir)
        return anchors, captions(anchors.labels(), seed=self.seed)

    def translator(self, name: str):
        from ..translators.translator import Translator

        if name not in TRANSLATORS:
            location = self._check_location(name)
            return self._once(f"translator:{location}", lambda: Translator.from_pretrained(
                location, local_files_only=bool(self.local_files_only)))
        folder = self.workspace / TRANSLATORS[name]
        return self._once(f"translator:{name}", lambda: self._load_or_fit(folder, TRANSLATORS[name]))

    def _load_or_fit(self, folder: Path, kind: str):
        from ..translators.fit import fit_translator
        from ..translators.translator import Translator

        if (folder / "model.safetensors").is_file():
            return Translator.from_pretrained(folder)
        reference, image_to_text = None, kind == TRANSLATORS[IMAGE_TO_TEXT]
        if image_to_text:
            images, text = self.encoder(IMAGE_ENCODER), self.encoder(MINILM)
            anchors, anchor_captions = self.fashion_anchors()
            source, target = self.encode(images, anchors.source_items()), self.encode(text, anchor_captions)
            provenance = anchors.provenance
            # aimed at the fashion head's own domain (bench_stitching: 0.89 -> 0.97 of a linear probe)
            reference = self.encode(text, product_descriptions()[0])
        else:
            texts = self.product_texts()
            source, target = self.encode(self.encoder(MPNET), texts), self.encode(self.encoder(MINILM), texts)
            provenance = None
        src, tgt = (IMAGE_ENCODER, MINILM) if image_to_text else (MPNET, MINILM)
        translator = fit_translator(source, target, method="auto", holdout=0.1, seed=self.seed,
                                    source_ref=self.encoder(src).ref, target_ref=self.encoder(tgt).ref,
                                    anchors=provenance, target_reference=reference)
        translator.save_pretrained(folder)
        return translator

    def product_texts(self) -> list[str]:
        """Text anchors for text -> text translators: product descriptions and captions of every class."""
        descriptions, _ = product_descriptions()
        return descriptions + [t.format(noun) for nouns in CLASS_NOUNS.values() for noun in nouns
                               for t in CAPTION_TEMPLATES]

    def head(self, name: str):
        from ..heads.head import ClassifierHead
        from ..heads.splice import head_from_classifier

        key = HEADS.get(name, name)
        if key == IMAGE_ENCODER:
            def build_spliced():
                self._install_if_shelved(IMAGE_ENCODER)
                return head_from_classifier(IMAGE_ENCODER, local_files_only=True, cache_dir=self.hub_cache)

            return self._once(f"head:{key}", build_spliced)
        if key in ("fashion-head-minilm", "fashion-head-mpnet"):
            folder = self.workspace / key

            def build():
                if (folder / "model.safetensors").is_file():
                    return ClassifierHead.from_pretrained(folder)
                encoder = self.encoder(MINILM if key.endswith("minilm") else MPNET)
                texts, labels = product_descriptions()
                head = ClassifierHead.fit(self.encode(encoder, texts), labels, val_fraction=0.0,
                                          seed=self.seed, encoder=encoder.ref)
                head.save_pretrained(folder)
                return head

            return self._once(f"head:{key}", build)
        location = self._check_location(key)
        return self._once(f"head:{location}", lambda: ClassifierHead.from_pretrained(
            location, local_files_only=bool(self.local_files_only)))

    # --- pipelines ----------------------------------------------------------------------------------------
    def compose(self, encoder: str, translator, head: str):
        """A `StitchedPipeline`; raises `IncompatibleStagesError` (with the reason) for stages that do not fit.
        `translator` is a display name, a Hub id / folder, a `Translator` (one a visitor fitted), or None."""
        from ..pipelines.pipeline import StitchedPipeline

        if isinstance(translator, str) or translator is None:
            translator = self.translator(translator) if translator and translator != NO_TRANSLATOR else None
        return StitchedPipeline(self.encoder(encoder), translator, self.head(head))

    def pipeline_names(self) -> list[str]:
        return [DEFAULT_PIPELINE, *self.extra_pipelines]

    def pipeline(self, name: str):
        from ..pipelines.pipeline import StitchedPipeline

        if name == DEFAULT_PIPELINE:
            return self._once("pipeline:default", lambda: self.compose(
                list(ENCODERS)[0], list(TRANSLATORS)[0], list(HEADS)[0]))
        location = self.extra_pipelines.get(name) or self._check_location(name)
        return self._once(f"pipeline:{location}", lambda: StitchedPipeline.from_pretrained(
            location, local_files_only=self.local_files_only))

    def native(self, head_name: str):
        """The head with its own encoder (no translator), or None when that encoder is not loadable here."""
        head = self.head(head_name)
        model_id = head.config.encoder.model_id
        if not model_id:
            return None
        return self.compose(model_id, None, head_name)
