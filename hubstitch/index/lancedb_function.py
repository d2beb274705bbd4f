"""hubstitch's encoders as a LanceDB embedding function, so a LanceDB user searches a hubstitch table with text.

Importing this module registers the function ``"hubstitch"`` in LanceDB's registry. Its one setting, ``model``,
is what hubstitch loads: a stitched encoder (an embedding pipeline: ``hubstitch stitch ENCODER TRANSLATOR``, by
folder or Hub id) or a plain encoder (Hub id, ``id@revision``, or folder). Tables that `hubstitch index build` and
`hubstitch index migrate` write record it in their schema (LanceDB's ``embedding_functions`` metadata, source column
``text``, vector column ``vector``): a built table names its own encoder, a migrated one the translator's target
model, so ``table.search("rates rise again")`` embeds the query in the table's space. Checkpoints load as hubstitch
loads them: safetensors only, ``trust_remote_code=False``.

Example:
    >>> import lancedb, hubstitch.index.lancedb_function  # doctest: +SKIP
    >>> table = lancedb.connect("./db").open_table("news_mpnet")  # doctest: +SKIP
    >>> table.search("rates rise again").limit(3).to_list()  # doctest: +SKIP
"""

from __future__ import annotations

import threading
from typing import Any

import numpy as np
from lancedb.embeddings import EmbeddingFunctionConfig, TextEmbeddingFunction, get_registry, register
from pydantic import PrivateAttr

from ..spaces import LatentSpaceRef, is_hub_id

NAME = "hubstitch"
_LOADED: dict[str, Any] = {}  # model spec -> loaded encoder, shared by the function's instances in this process
_LOCK = threading.Lock()


def _load(model: str) -> Any:
    """The stitched encoder or encoder `model` names (loaded once per process)."""
    with _LOCK:
        if model not in _LOADED:
            from pathlib import Path

            from ..encoders.encoder import Encoder
            from ..hub.files import split_revision

            folder = Path(model)
            manifest = folder / "config.json"
            if folder.is_dir() and manifest.is_file() and '"stitched-pipeline"' in manifest.read_text():
                from ..pipelines.pipeline import StitchedPipeline

                _LOADED[model] = _embedding(StitchedPipeline.from_pretrained(folder), model)
            else:
                name, revision = split_revision(model)
                try:
                    from ..pipelines.pipeline import StitchedPipeline

                    pipeline = StitchedPipeline.from_pretrained(name, revision=revision)
                except Exception:  # noqa: BLE001 - not a pipeline repo: an encoder checkpoint
                    pipeline = None
                _LOADED[model] = (_embedding(pipeline, model) if pipeline is not None
                                  else Encoder.from_pretrained(name, revision=revision))
        return _LOADED[model]


def _embedding(pipeline: Any, model: str) -> Any:
    from ..errors import HubstitchValueError

    if getattr(pipeline, "shape", None) != "embedding":
        raise HubstitchValueError(f"{model} is a {getattr(pipeline, 'shape', '?')!r} pipeline; a LanceDB embedding "
                                  f"function needs vectors: an encoder, or an embedding pipeline (hubstitch stitch "
                                  f"ENCODER TRANSLATOR)")
    return pipeline


@register(NAME)
class HubstitchEmbeddings(TextEmbeddingFunction):
    """LanceDB embedding function: texts -> vectors of a hubstitch stitched encoder or encoder (see the module)."""

    model: str
    _dim: int | None = PrivateAttr(default=None)

    def ndims(self) -> int:
        if self._dim is None:
            self._dim = int(self.generate_embeddings(["hubstitch"])[0].shape[0])
        return self._dim

    def generate_embeddings(self, texts: list[str] | np.ndarray, *args: Any, **kwargs: Any) -> list[np.ndarray]:
        vectors = _load(self.model).encode([str(t) for t in texts], progress=False)
        return list(vectors.float().numpy())


def model_spec(space: LatentSpaceRef) -> str | None:
    """How the function names the encoder of `space`: ``id@commit`` for a Hub id, the folder for a local one;
    None when the space names no model (a translator fitted on bare latents)."""
    if not space.model_id:
        return None
    if is_hub_id(space.model_id) and space.revision:
        return f"{space.model_id}@{space.revision}"
    return space.model_id


def function_metadata(model: str, source_column: str = "text", vector_column: str = "vector") -> dict[bytes, bytes]:
    """The schema metadata that makes LanceDB embed ``search("text")`` queries with `model` (see the module)."""
    function = get_registry().get(NAME).create(model=model)
    config = EmbeddingFunctionConfig(vector_column=vector_column, source_column=source_column, function=function)
    return {key.encode() if isinstance(key, str) else key: value
            for key, value in get_registry().get_table_metadata([config]).items()}
