"""Store-agnostic index translation: Arrow record batches (or numpy arrays) of stored vectors in, batches in the
translator's target space out, and the latent-space record a table carries in its schema metadata.

Any vector store that can read and write Arrow batches (LanceDB, Parquet files, pgvector through ADBC, a FAISS
index kept beside a Parquet id column) migrates through `translate_batches`; `hubstitch.index.lancedb_store`
is the LanceDB adapter.

Example:
    >>> import numpy as np, pyarrow as pa, torch, hubstitch
    >>> from hubstitch.index.stream import translate_batches, vectors_of
    >>> x = torch.randn(200, 8)
    >>> translator = hubstitch.fit_translator(x, x @ torch.linalg.qr(torch.randn(8, 8))[0], method="orthogonal")
    >>> batch = pa.record_batch({"id": pa.array(["a", "b"]), "vector": pa.FixedSizeListArray.from_arrays(
    ...     pa.array(np.ones(16, dtype="float32")), 8)})
    >>> [vectors_of(b).shape for b in translate_batches([batch], translator)]
    [(2, 8)]
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import asdict
from typing import Any

import numpy as np
import pyarrow as pa
import torch

from ..errors import HubstitchValueError
from ..spaces import LatentSpaceRef
from ..translators.translator import Translator

METADATA_KEY = b"hubstitch"
VECTOR_COLUMN = "vector"


class IndexTableError(HubstitchValueError):
    """An index table that is missing, not hubstitch's, or not in the space it is used with."""


def vectors_of(batch: pa.RecordBatch, column: str = VECTOR_COLUMN) -> np.ndarray:
    """The (rows, dim) float32 matrix of a fixed-size-list vector column, without a copy where Arrow allows."""
    array = batch.column(column)
    if not pa.types.is_fixed_size_list(array.type):
        raise IndexTableError(f"column {column!r} has type {array.type}; expected a fixed-size list of floats (a "
                              f"vector column); fix: name the vector column")
    return array.values.to_numpy(zero_copy_only=False).reshape(len(array), array.type.list_size).astype(
        np.float32, copy=False)


def vector_array(vectors: np.ndarray) -> pa.FixedSizeListArray:
    return pa.FixedSizeListArray.from_arrays(pa.array(np.ascontiguousarray(vectors, dtype=np.float32).ravel()),
                                             vectors.shape[1])


def translate_batches(batches: Iterable[pa.RecordBatch], translator: Translator, column: str = VECTOR_COLUMN,
                      normalize: bool | None = None) -> Iterator[pa.RecordBatch]:
    """Each batch with its `column` translated into the translator's target space (normalised where that space
    is, unless `normalize` says otherwise); the other columns pass through untouched."""
    target = translator.config.target
    normalize = target.normalization == "l2" if normalize is None else normalize
    for batch in batches:
        vectors = torch.from_numpy(np.array(vectors_of(batch, column)))
        with torch.inference_mode():
            out = translator(vectors)
            if normalize:
                out = torch.nn.functional.normalize(out, dim=1)
        index = batch.schema.get_field_index(column)
        yield batch.set_column(index, pa.field(column, pa.list_(pa.float32(), target.dim)),
                               vector_array(out.numpy()))


def space_metadata(space: LatentSpaceRef, **extra: Any) -> dict[bytes, bytes]:
    """Schema metadata recording which space a table's vectors live in (and how they got there)."""
    return {METADATA_KEY: json.dumps({"space": asdict(space), **extra}, sort_keys=True).encode()}


def read_space(schema: pa.Schema, where: str) -> tuple[LatentSpaceRef, dict[str, Any]]:
    """(the space, the whole record) from a table schema written with `space_metadata`."""
    raw = (schema.metadata or {}).get(METADATA_KEY)
    if raw is None:
        raise IndexTableError(f"{where} has no hubstitch metadata (which encoder made its vectors is unknown); "
                          f"expected a table written by `hubstitch index build` or `migrate`; fix: rebuild it")
    try:
        record = json.loads(raw)
    except ValueError as err:
        raise IndexTableError(f"{where} has unreadable hubstitch metadata ({err}); fix: rebuild the table") from err
    if not isinstance(record, dict) or "space" not in record:
        raise IndexTableError(f"{where} has hubstitch metadata without a 'space' object; expected what `hubstitch "
                              f"index build` writes; fix: rebuild the table")
    try:
        space = LatentSpaceRef.from_dict(record["space"], f"{where}'s space")  # each field checked
    except HubstitchValueError as err:
        raise IndexTableError(f"{where} has invalid hubstitch metadata: {err}") from err
    if space.dim <= 0:
        raise IndexTableError(f"{where}'s space has dim {space.dim}; expected the vectors' width; fix: rebuild the "
                              f"table")
    return space, record
