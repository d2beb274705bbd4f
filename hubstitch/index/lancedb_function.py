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
    """The stitched encoder or encoder `model` names (loaded once per process), told apart by its config.json."""
    with _LOCK:
        if model not in _LOADED:
            from ..encoders.encoder import Encoder
            from ..hub.files import split_revision
            from ..pipelines.pipeline import StitchedPipeline

            name, revision = split_revision(model)
            if _artifact(name, revision) == "stitched-pipeline":
                _LOADED[model] = _embedding(StitchedPipeline.from_pretrained(name, revision=revision), model)
            else:
                _LOADED[model] = Encoder.from_pretrained(name, revision=revision)
        return _LOADED[model]


def _artifact(name: str, revision: str | None) -> str | None:
    """The ``artifact`` a folder's or Hub repo's config.json names (None for a transformers checkpoint)."""
    from pathlib import Path

    from huggingface_hub import hf_hub_download

    from ..hub.artifact_io import read_config
    from ..hub.client import hub_hint

    if Path(name).is_dir():
        path = Path(name) / "config.json"
    else:
        with hub_hint("embedding model", name, revision):
            path = Path(hf_hub_download(name, "config.json", revision=revision))
    config = read_config(path)
    return config.get("artifact") if isinstance(config, dict) else None


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
