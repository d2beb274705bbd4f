"""The indices of a LanceDB table, carried over to the table a migration writes.

A migrated table is new, so the old table's indices (ANN on the vectors, full-text on text columns, scalar on the
others) would be gone. `index_plan` reads them before any work and refuses, naming them, the kinds it cannot carry
over; `recreate_indices` builds them on the new table before it is published, with the same names and settings (a
vector index is trained again on the translated vectors, with the old index's distance and partition count; its
sub-vector count is chosen for the new width).

Example:
    >>> from hubstitch.index.lancedb_indices import index_plan  # doctest: +SKIP
    >>> [spec["name"] for spec in index_plan(table)]  # doctest: +SKIP
    ['vector_idx', 'text_idx', 'id_idx']
"""

from __future__ import annotations

import logging
from typing import Any

from .stream import VECTOR_COLUMN, IndexTableError

logger = logging.getLogger(__name__)
VECTOR_KINDS = {"IvfPq": "IvfPq", "IvfFlat": "IvfFlat", "IvfSq": "IvfSq", "IvfHnswPq": "HnswPq",
                "IvfHnswSq": "HnswSq", "IvfHnswFlat": "HnswFlat"}
SCALAR_KINDS = {"BTree": "BTree", "Bitmap": "Bitmap", "LabelList": "LabelList"}
FTS_SETTINGS = ("with_position", "base_tokenizer", "language", "max_token_length", "lower_case", "stem",
                "remove_stop_words", "ascii_folding", "prefix_only")


def index_plan(table: Any) -> list[dict[str, Any]]:
    """What it takes to rebuild each index of `table` on a migrated copy: [{name, kind, column, settings}]; an index
    of a kind this module cannot carry over is refused, naming it, before anything is written."""
    plan, refused = [], []
    for index in table.list_indices():
        column = index.columns[0] if len(index.columns) == 1 else None
        details = dict(getattr(index, "index_details", None) or {})
        if index.index_type in VECTOR_KINDS and column == VECTOR_COLUMN:
            stats = table.index_stats(index.name)
            settings = {"distance_type": (stats.distance_type if stats else None)
                        or str(details.get("metric_type", "l2")).lower()}
            partitions = getattr(stats, "num_partitions", None) if stats else None
            if partitions:
                settings["num_partitions"] = int(partitions)
            plan.append({"name": index.name, "kind": VECTOR_KINDS[index.index_type], "column": column,
                         "settings": settings})
        elif index.index_type == "FTS" and column is not None:
            plan.append({"name": index.name, "kind": "FTS", "column": column,
                         "settings": {k: details[k] for k in FTS_SETTINGS if k in details}})
        elif index.index_type in SCALAR_KINDS and column is not None and column != VECTOR_COLUMN:
            plan.append({"name": index.name, "kind": SCALAR_KINDS[index.index_type], "column": column,
                         "settings": {}})
        else:
            refused.append(f"{index.name} ({index.index_type} on {list(index.columns)})")
    if refused:
        raise IndexTableError(f"table {table.name!r} has indices a migration cannot rebuild: {refused}; expected "
                              f"vector ({sorted(VECTOR_KINDS)}), full-text or scalar ({sorted(SCALAR_KINDS)}) "
                              f"indices on one column; nothing was written; fix: drop those indices, migrate, and "
                              f"build them again on the new table")
    return plan


def recreate_indices(table: Any, plan: list[dict[str, Any]]) -> None:
    """Build the `plan` (`index_plan` of the old table) on `table`, with the same names."""
    import lancedb.index as kinds

    for spec in plan:
        config = getattr(kinds, spec["kind"])(**spec["settings"])
        logger.info("rebuilding index %s (%s on %s) on the migrated table", spec["name"], spec["kind"], spec["column"])
        table.create_index(spec["column"], config=config, name=spec["name"], replace=True)
