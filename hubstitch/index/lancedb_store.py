"""LanceDB (embedded, no server) as hubstitch's default vector index.

- `build`: encode items with a progress bar and write ``id``, ``text`` and ``vector`` columns; the table's schema
  metadata records the encoder's pinned space (`hubstitch.index.stream.space_metadata`).
- `search`: query vectors against a table by cosine similarity, after checking that they live in the table's space
  (a mismatched encoder is refused, naming both).
- `migrate`: stream the stored vectors through a translator into another model's space, without re-encoding, into
  a new table. The old table is only read. The new one is written in a staging folder inside the database
  (``.hubstitch-staging``, which LanceDB does not list), its row count and space are verified, and only then is it
  renamed into place, so a killed run leaves no half table; the next run clears the stale staging copy and starts
  over. Publication by rename needs the database to be a local folder. Table names are plain names and nothing
  outside the database is ever written or removed (`hubstitch.index.staging`).

Example:
    >>> from hubstitch.index import lancedb_store  # doctest: +SKIP
    >>> lancedb_store.build(minilm, texts, ids, "./db", "news")  # doctest: +SKIP
    >>> lancedb_store.migrate("./db", "news", minilm_to_mpnet, "news_mpnet")  # doctest: +SKIP
"""

from __future__ import annotations

import functools
import logging
import os
import re
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import pyarrow as pa
import torch
from huggingface_hub.utils import tqdm

from ..errors import HubstitchError
from ..spaces import IncompatibleStagesError, LatentSpaceRef, check_same_space
from ..translators.translator import Translator
from .lancedb_indices import index_plan, recreate_indices
from .staging import check_table_name, existing_database, remove_inside, staged_table
from .stream import VECTOR_COLUMN, IndexTableError, read_space, space_metadata, translate_batches, vector_array

logger = logging.getLogger(__name__)
T = TypeVar("T")


def _lancedb():
    try:
        import lancedb
    except ImportError as err:
        raise IndexTableError(f"the vector index needs LanceDB ({err}); fix: pip install 'hubstitch[index]'") from None
    return lancedb


def lance_errors(function: Callable[..., T]) -> Callable[..., T]:
    """`function` with LanceDB's and Arrow's own errors (a corrupt table, an unreadable fragment: a RuntimeError
    carrying a Rust traceback) turned into an `IndexTableError` that names the database and says what to do."""

    @functools.wraps(function)
    def wrapped(*args: Any, **kwargs: Any) -> T:
        try:
            return function(*args, **kwargs)
        except (HubstitchError, IncompatibleStagesError):
            raise
        except (RuntimeError, OSError, ValueError, pa.ArrowException) as err:
            text = str(err).splitlines()[0] if str(err) else type(err).__name__
            text = re.sub(r",\s*/\S+\.rs:\d+:\d+\s*$", "", text)  # the Rust source location
            db = kwargs.get("db", args[0] if args else "?")
            raise IndexTableError(f"LanceDB failed on the database {db} ({type(err).__name__}: {text}); expected "
                                  f"intact tables; fix: if a table is damaged, restore an earlier version of it "
                                  f"(LanceDB's table.restore) or build it again") from err

    return wrapped


def _local(db: str | Path) -> Path:
    if "://" in str(db):
        raise IndexTableError(f"database {db!r} is not a local folder; publishing a table all at once renames its "
                              f"folder, which needs a local database; fix: migrate in a local folder, then copy")
    return Path(db)


@lance_errors
def open_table(db: str | Path, name: str) -> tuple[Any, LatentSpaceRef, dict[str, Any]]:
    """(the LanceDB table, the space its vectors live in, the table's hubstitch record)."""
    check_table_name(name)
    connection = _lancedb().connect(str(existing_database(db)))
    if name not in connection.list_tables().tables:
        raise IndexTableError(f"database {db} has no table {name!r} (it has {connection.list_tables().tables}); "
                              f"fix: build it with `hubstitch index build` or check the name")
    table = connection.open_table(name)
    space, record = read_space(table.schema, f"table {name!r} in {db}")
    return table, space, record


def _schema(dim: int, metadata: dict[bytes, bytes], extra: pa.Schema | None = None,
            space: LatentSpaceRef | None = None) -> pa.Schema:
    """The table schema: `extra`'s columns (default id, text), then the vector column; its metadata records the
    space, and, where a text column and a named `space` allow, LanceDB's embedding function for that space's
    encoder (`hubstitch.index.lancedb_function`), so ``table.search("text")`` works for LanceDB users."""
    fields = [f for f in (extra or pa.schema([pa.field("id", pa.string()), pa.field("text", pa.string())]))
              if f.name != VECTOR_COLUMN]
    metadata = {key: value for key, value in metadata.items() if key != b"embedding_functions"}
    if space is not None and space.modality == "text" and any(f.name == "text" for f in fields):
        from .lancedb_function import function_metadata, model_spec

        spec = model_spec(space)
        if spec is not None:
            metadata.update(function_metadata(spec))
    return pa.schema([*fields, pa.field(VECTOR_COLUMN, pa.list_(pa.float32(), dim))], metadata=metadata)


def check_new_table(db: Path, name: str) -> None:
    """Refuse a `name` that is not a plain table name or is already a table of `db`."""
    check_table_name(name)
    if name in _lancedb().connect(str(db)).list_tables().tables:
        raise IndexTableError(f"table {name!r} already exists in {db}; expected a new name; fix: choose another "
                              f"name, or drop the old table first")


def _publish(db: Path, name: str, schema: pa.Schema, batches: Iterator[pa.RecordBatch], expected_rows: int,
             expected_space: LatentSpaceRef, indices: list[dict[str, Any]] | None = None) -> None:
    """Write `batches` as table `name` through the staging folder; verify; rebuild `indices`; rename into place."""
    check_new_table(db, name)
    with staged_table(db, name) as staged:
        _lancedb().connect(str(staged.parent)).create_table(
            name, data=pa.RecordBatchReader.from_batches(schema, batches), schema=schema)
        publish_staged(db, name, staged, expected_rows, expected_space, indices)


def publish_staged(db: Path, name: str, staged: Path, expected_rows: int, expected_space: LatentSpaceRef,
                   indices: list[dict[str, Any]] | None = None) -> None:
    """Verify the staged table `name` (row count, space), build the old table's `indices` on it
    (`hubstitch.index.lancedb_indices`), and rename it into place; or remove it and refuse."""
    table = _lancedb().connect(str(staged.parent)).open_table(name)
    rows = table.count_rows()
    space, _ = read_space(table.schema, f"the staged table {name!r}")
    if rows != expected_rows or space != expected_space:
        remove_inside(staged, db)
        raise IndexTableError(f"the staged table {name!r} has {rows} rows in space {space.model_id}; expected "
                              f"{expected_rows} rows in {expected_space.model_id}; nothing was published; fix: run "
                              f"it again")
    if indices:
        recreate_indices(table, indices)
    check_new_table(db, name)  # a table of that name made by other means meanwhile is never replaced
    os.rename(staged, db / f"{name}.lance")  # atomic on one filesystem: the table appears whole


@lance_errors
def build(encoder, items: Sequence[Any], db: str | Path, name: str, *, ids: Sequence[Any] | None = None,
          texts: Sequence[str] | None = None, batch_size: int = 32, chunk: int = 1024,
          progress: bool = True) -> int:
    """Encode `items` into a new table `name` (columns id, text, vector); returns the row count."""
    db = _local(db)
    ids = [str(i) for i in (ids if ids is not None else range(len(items)))]
    check_table_name(name)
    texts = list(texts) if texts is not None else [i if isinstance(i, str) else "" for i in items]
    if not (len(ids) == len(texts) == len(items)) or not items:
        raise IndexTableError(f"{len(items)} items, {len(ids)} ids, {len(texts)} texts; expected as many of each, at "
                              f"least one; fix: pass parallel columns")
    schema = _schema(encoder.dim, space_metadata(encoder.ref), space=encoder.ref)

    def batches() -> Iterator[pa.RecordBatch]:
        with tqdm(total=len(items), desc=f"indexing with {encoder.ref.model_id}", disable=not progress) as bar:
            for start in range(0, len(items), chunk):
                vectors = encoder.encode(items[start:start + chunk], batch_size=batch_size, progress=False).numpy()
                yield pa.record_batch([pa.array(ids[start:start + chunk]), pa.array(texts[start:start + chunk]),
                                       vector_array(vectors)], schema=schema)
                bar.update(len(vectors))

    db.mkdir(parents=True, exist_ok=True)
    _publish(db, name, schema, batches(), len(items), encoder.ref)
    return len(items)


@lance_errors
def search(db: str | Path, name: str, vectors: torch.Tensor, space: LatentSpaceRef, k: int = 10,
           who: str = "query encoder") -> list[list[dict[str, Any]]]:
    """Top-`k` rows of table `name` per query vector ({id, text, score = cosine}); `space` must be the table's."""
    table, table_space, _ = open_table(db, name)
    try:
        check_same_space(space, table_space, who, f"index table {name!r}")
    except IncompatibleStagesError as err:
        raise IncompatibleStagesError(
            f"the {who} makes vectors of {space.model_id}@{space.revision} but table {name!r} holds vectors of "
            f"{table_space.model_id}@{table_space.revision} ({str(err).split(' (')[0]}); fix: query with "
            f"{table_space.model_id}, or with a stitched encoder whose translator maps into its space "
            f"(--pipeline), or migrate the table into your encoder's space"
        ) from None
    results = []
    for vector in vectors.float().numpy():
        hits = (table.search(np.asarray(vector), vector_column_name=VECTOR_COLUMN).distance_type("cosine")
                .select(["id", "text", "_distance"]).limit(k).to_list())
        results.append([{"id": h["id"], "text": h.get("text", ""), "score": 1.0 - float(h["_distance"])}
                        for h in hits])
    return results


def migration_plan(db: Path, old: str, translator: Translator) -> tuple[Any, int, pa.Schema, list[dict[str, Any]]]:
    """(the old table, its row count, the new table's schema and metadata, the old table's indices to rebuild),
    after checking that the translator starts in the old table's space and that every index can be rebuilt."""
    table, space, record = open_table(db, old)
    check_same_space(space, translator.config.source, f"index table {old!r}", "translator")
    target = translator.config.target
    unverified = [side for side in ("source", "target") if not getattr(translator.config, side).model_id]
    if unverified:  # fitted on bare latents with no --source-id / --target-id: nothing to check against
        logger.warning("the translator records no %s model, so it cannot be checked against table %r's space "
                       "(%s); the migrated table records that its space was taken on trust; fix: fit it with "
                       "source_ref / target_ref (fit-latents --source-id / --target-id)", " or ".join(unverified),
                       old, space.model_id)
    metadata = space_metadata(target, migrated_from={"table": old, "space": record["space"]},
                              translator={"source": translator.config.source.model_id, "method":
                                          translator.config.method, "origin": list(translator.hub_origin or []),
                                          "unverified": unverified})
    plan = index_plan(table)
    return table, table.count_rows(), _schema(target.dim, metadata, table.schema, space=target), plan


def translated_rows(table: Any, schema: pa.Schema, translator: Translator, start: int, stop: int,
                    batch_size: int) -> Iterator[pa.RecordBatch]:
    """Rows [start, stop) of `table`, translated and cast to the new table's `schema`, a batch at a time.

    Rows are addressed by offset, one batch at a time: a scan's ``to_batches`` reads ahead in proportion to the
    table (its peak memory grew from 0.2 to 0.7 GB between 1e5 and 1e6 rows); this stays at one batch."""
    names = [f.name for f in schema]

    def read() -> Iterator[pa.RecordBatch]:
        for first in range(start, stop, batch_size):
            offsets = list(range(first, min(stop, first + batch_size)))
            yield from table.take_offsets(offsets).select(names).to_arrow().to_batches()

    for batch in translate_batches(read(), translator):
        yield batch.select(names).cast(schema)


@lance_errors
def migrate(db: str | Path, old: str, translator: Translator, new: str, *, batch_size: int = 8192,
            progress: bool = True) -> dict[str, Any]:
    """Translate every vector of table `old` into `translator`'s target space as the new table `new`."""
    db = _local(db)
    table, rows, schema, indices = migration_plan(db, old, translator)  # _publish refuses a taken or bad name
    target = translator.config.target

    def batches() -> Iterator[pa.RecordBatch]:
        with tqdm(total=rows, desc=f"migrating {old} -> {new}", disable=not progress) as bar:
            for batch in translated_rows(table, schema, translator, 0, rows, batch_size):
                yield batch
                bar.update(batch.num_rows)

    _publish(db, new, schema, batches(), rows, target, indices)
    return {"table": new, "rows": rows, "space": vars(target), "migrated_from": old,
            "indices": [spec["name"] for spec in indices]}
