"""`hubstitch index migrate --engine ray`: a LanceDB table's vectors translated by Ray tasks, range by range, each
written as a Lance fragment into the staging table, committed once and published whole.

The same all-or-nothing publication as the local migration (`hubstitch.index.lancedb_store.migrate`): fragments
land in the staging folder, the driver commits them in row order as one version, the row count and space are
checked, and only then is the table renamed into place. A failed task (after Ray's retries) leaves nothing
published; the files that a failed try of a retried task wrote are deleted at the commit (`commit_fragments`). The
translator travels to the tasks as its safetensors file and config, never pickled.

Example:
    >>> from hubstitch.engines.ray_migrate import migrate_on_ray  # doctest: +SKIP
    >>> migrate_on_ray("./db", "news", minilm_to_mpnet, "news_mpnet", RaySettings(num_workers=8))  # doctest: +SKIP
"""

from __future__ import annotations

import math
import tempfile
from pathlib import Path
from typing import Any

import pyarrow as pa
from huggingface_hub.utils import tqdm

from ..index.lancedb_store import _lancedb, _local, check_new_table, migration_plan, publish_staged, translated_rows
from ..index.staging import existing_database, staged_table
from ..translators.translator import Translator
from .ray_cluster import RaySettings, import_extra, ray_cluster, reraise

ROWS_PER_TASK = 100_000  # rows one task reads, translates and writes as one fragment


def translator_files(translator: Translator) -> dict[str, bytes]:
    """The translator as the bytes of its saved files (config.json, model.safetensors), to rebuild on a worker."""
    with tempfile.TemporaryDirectory() as folder:
        translator.save_pretrained(folder)
        return {p.name: p.read_bytes() for p in Path(folder).iterdir() if p.suffix in (".json", ".safetensors")}


def translator_from_files(files: dict[str, bytes]) -> Translator:
    with tempfile.TemporaryDirectory() as folder:
        for name, data in files.items():
            (Path(folder) / Path(name).name).write_bytes(data)
        return Translator.from_pretrained(folder)


def _migrate_range(db: str, old: str, start: int, stop: int, files: dict[str, bytes], staged: str,
                   schema: pa.Schema, batch_size: int) -> list[Any]:
    """One task: rows [start, stop) of table `old`, translated, written as fragments of the staged table."""
    from lance.fragment import write_fragments

    table = _lancedb().connect(db).open_table(old)
    translated = translated_rows(table, schema, translator_from_files(files), start, stop, batch_size)
    return write_fragments(pa.RecordBatchReader.from_batches(schema, translated), staged, schema=schema,
                           max_rows_per_file=stop - start + 1)


def commit_fragments(staged: Path, schema: pa.Schema, fragments: list[Any]) -> None:
    """Commit `fragments` as the staged table's one version, then delete every file under it that this version does
    not reference: what the first try of a retried task wrote (the staged table is this migration's alone)."""
    from datetime import timedelta

    lance = import_extra("lance", "a migration on Ray writes Lance fragments with pylance")
    dataset = lance.LanceDataset.commit(str(staged), lance.LanceOperation.Overwrite(schema, fragments))
    dataset.cleanup_old_versions(older_than=timedelta(0), delete_unverified=True)


def migrate_on_ray(db: str | Path, old: str, translator: Translator, new: str, settings: RaySettings, *,
                   rows_per_task: int = ROWS_PER_TASK, batch_size: int = 8192,
                   progress: bool = True) -> dict[str, Any]:
    """`hubstitch.index.lancedb_store.migrate` with the reading, translation and writing in Ray tasks (at most
    `settings.num_workers` at a time, `rows_per_task` rows each)."""
    import_extra("lance", "a migration on Ray writes Lance fragments with pylance")  # before any work
    db = _local(db)
    check_new_table(existing_database(db), new)
    _table, rows, schema, indices = migration_plan(db, old, translator)
    files = translator_files(translator)
    tasks = max(1, min(rows, max(math.ceil(rows / max(1, rows_per_task)), settings.num_workers)))
    bounds = [(rows * i // tasks, rows * (i + 1) // tasks) for i in range(tasks)]
    with staged_table(db, new) as staged:  # the staged fragments go on any error; nothing is published
        try:
            with ray_cluster(settings) as ray:
                results = _run_tasks(ray, settings, bounds, (str(db), old), files, staged, schema, batch_size,
                                     f"migrating {old} -> {new} on Ray", progress)
            commit_fragments(staged, schema, [fragment for i in range(len(bounds)) for fragment in results[i]])
        except Exception as err:  # noqa: BLE001 - a Ray error becomes its hubstitch type
            reraise(err)
        publish_staged(db, new, staged, rows, translator.config.target, indices)
    return {"table": new, "rows": rows, "space": vars(translator.config.target), "migrated_from": old, "engine": "ray",
            "tasks": len(bounds), "indices": [spec["name"] for spec in indices]}


def _run_tasks(ray, settings: RaySettings, bounds: list[tuple[int, int]], source: tuple[str, str],
               files: dict[str, bytes], staged: Path, schema: pa.Schema, batch_size: int, desc: str,
               progress: bool) -> dict[int, Any]:
    """Run one `_migrate_range` task per row range, at most `settings.num_workers` at a time; their fragments by
    range."""
    remote = ray.remote(num_cpus=settings.cpus_per_worker, max_retries=3)(_migrate_range)
    files_ref = ray.put(files)
    results: dict[int, Any] = {}
    pending: dict[Any, int] = {}
    queue = list(range(len(bounds)))
    with tqdm(total=bounds[-1][1], desc=desc, disable=not progress) as bar:
        while queue or pending:
            while queue and len(pending) < settings.num_workers:
                i = queue.pop(0)
                pending[remote.remote(*source, *bounds[i], files_ref, str(staged), schema, batch_size)] = i
            done, _ = ray.wait(list(pending), num_returns=1)
            i = pending.pop(done[0])
            results[i] = ray.get(done[0])
            bar.update(bounds[i][1] - bounds[i][0])
    return results
