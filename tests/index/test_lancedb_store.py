"""The LanceDB index: build with one encoder, query across models, migrate all-or-nothing (a run killed mid-way
leaves no table and the next run completes), refuse an encoder of another space, and the CLI around it."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest
import torch
from helpers import one_error_line

import hubstitch
from hubstitch import Encoder, StitchedEncoder
from hubstitch.spaces import IncompatibleStagesError, LatentSpaceRef

lancedb = pytest.importorskip("lancedb")
from hubstitch.index import lancedb_store  # noqa: E402
from hubstitch.index.stream import IndexTableError, read_space, space_metadata, vector_array  # noqa: E402

WORDS = ["hello", "world", "the", "cat", "dog", "news", "sport", "money"]
TEXTS = [" ".join(WORDS[(i * k + i) % 8] for k in range(1, 3 + i % 4)) + f" {i % 7}" for i in range(120)]


@pytest.fixture(scope="module")
def parts(tiny):
    source, target = Encoder.from_pretrained(tiny["bert"]), Encoder.from_pretrained(tiny["bert-2"])
    xs, xt = source.encode(TEXTS, progress=False), target.encode(TEXTS, progress=False)
    translator = hubstitch.fit_translator(xs, xt, method="linear", alpha=0.1, source_ref=source.ref,
                                          target_ref=target.ref)
    return source, target, translator


def test_build_query_and_migrate(parts, tmp_path):
    source, target, translator = parts
    db = tmp_path / "db"
    assert lancedb_store.build(target, TEXTS, db, "docs_target", ids=[f"d{i}" for i in range(120)],
                               progress=False) == 120
    lancedb_store.build(source, TEXTS, db, "docs_source", progress=False)
    table, space, _ = lancedb_store.open_table(db, "docs_target")
    assert table.count_rows() == 120 and space == target.ref
    # natively: each text finds itself
    hits = lancedb_store.search(db, "docs_target", target.encode(TEXTS[:3], progress=False), target.ref, k=1)
    assert [h[0]["id"] for h in hits] == ["d0", "d1", "d2"] and abs(hits[0][0]["score"] - 1) < 1e-4
    # a stitched encoder queries the target's table; the source's own vectors are refused, naming both
    stitched = StitchedEncoder(source, translator)
    found = lancedb_store.search(db, "docs_target", stitched.encode(TEXTS[:20]), stitched.space, k=5)
    assert sum(f"d{i}" in {h["id"] for h in hits} for i, hits in enumerate(found)) >= 15
    with pytest.raises(IncompatibleStagesError, match=r"makes vectors of .*tiny-models.*bert@.* but table "
                                                      r"'docs_target' holds vectors of .*bert-2"):
        lancedb_store.search(db, "docs_target", source.encode(TEXTS[:1], progress=False), source.ref)
    # the source's table migrated into the target's space, queried natively
    before = sorted(p.name for p in (db / "docs_source.lance").rglob("*"))
    summary = lancedb_store.migrate(db, "docs_source", translator, "docs_migrated", batch_size=50, progress=False)
    assert summary["rows"] == 120 and sorted(p.name for p in (db / "docs_source.lance").rglob("*")) == before
    migrated, space, record = lancedb_store.open_table(db, "docs_migrated")
    assert space == target.ref and record["migrated_from"]["table"] == "docs_source"
    stored = migrated.to_arrow().sort_by("id")
    expected = translator(source.encode(TEXTS, progress=False)).numpy()
    order = np.argsort([int(i) for i in stored.column("id").to_pylist()])
    assert np.allclose(np.stack(stored.column("vector").to_numpy(zero_copy_only=False))[order], expected, atol=1e-5)
    with pytest.raises(IndexTableError, match="already exists"):
        lancedb_store.migrate(db, "docs_source", translator, "docs_migrated", progress=False)
    with pytest.raises(IncompatibleStagesError, match="index table 'docs_target'"):
        lancedb_store.migrate(db, "docs_target", translator, "twice", progress=False)
    assert not (db / ".hubstitch-staging").exists()


def _big_table(db: Path, rows: int = 60000, dim: int = 16) -> tuple[hubstitch.Translator, LatentSpaceRef]:
    a = LatentSpaceRef("org/a", "a" * 40, "text", "mean", -1, dim)
    b = LatentSpaceRef("org/b", "b" * 40, "text", "mean", -1, dim)
    schema = pa.schema([pa.field("id", pa.string()), pa.field("text", pa.string()),
                        pa.field("vector", pa.list_(pa.float32(), dim))], metadata=space_metadata(a))
    gen = np.random.default_rng(0)

    def batches():
        for start in range(0, rows, 10000):
            yield pa.record_batch([pa.array([str(i) for i in range(start, start + 10000)]), pa.array([""] * 10000),
                                   vector_array(gen.standard_normal((10000, dim)).astype("float32"))], schema=schema)

    lancedb.connect(str(db)).create_table("old", data=pa.RecordBatchReader.from_batches(schema, batches()),
                                          schema=schema)
    x = torch.randn(500, dim)
    translator = hubstitch.fit_translator(x, x @ torch.linalg.qr(torch.randn(dim, dim))[0], method="orthogonal",
                                          source_ref=a, target_ref=b)
    return translator, b


SLOW_MIGRATION = """
import sys, time
import hubstitch.index.lancedb_store as store
real = store.translate_batches
def slow(batches, translator, **kw):
    for i, batch in enumerate(real(batches, translator, **kw)):
        print(f"batch {i}", flush=True)
        time.sleep(0.2)
        yield batch
store.translate_batches = slow
from hubstitch import Translator
store.migrate(sys.argv[1], "old", Translator.from_pretrained(sys.argv[2]), "new", batch_size=1000, progress=False)
print("done", flush=True)
"""


def test_a_migration_killed_mid_way_leaves_no_table_and_the_next_run_completes(tmp_path):
    db = tmp_path / "db"
    translator, target = _big_table(db)
    translator.save_pretrained(tmp_path / "tr")
    old_files = sorted((p.name, p.stat().st_size) for p in (db / "old.lance").rglob("*") if p.is_file())
    process = subprocess.Popen([sys.executable, "-c", SLOW_MIGRATION, str(db), str(tmp_path / "tr")],
                               stdout=subprocess.PIPE, text=True)
    deadline = time.time() + 120
    for line in process.stdout:  # kill it once several batches are on their way to the staged table
        if line.startswith("batch 5") or time.time() > deadline:
            break
    os.kill(process.pid, signal.SIGKILL)
    process.wait(timeout=60)
    connection = lancedb.connect(str(db))
    assert connection.list_tables().tables == ["old"]  # no half table is visible
    assert (db / ".hubstitch-staging").exists()  # the unfinished copy stayed out of sight
    assert sorted((p.name, p.stat().st_size) for p in (db / "old.lance").rglob("*") if p.is_file()) == old_files
    summary = lancedb_store.migrate(db, "old", translator, "new", batch_size=7000, progress=False)
    assert summary["rows"] == 60000 and sorted(connection.list_tables().tables) == ["new", "old"]
    assert read_space(connection.open_table("new").schema, "new")[0] == target
    assert not (db / ".hubstitch-staging").exists()


@pytest.mark.slow
def test_index_cli_build_query_migrate(parts, tmp_path):
    source, target, translator = parts
    data = tmp_path / "docs.jsonl"
    data.write_text("".join(json.dumps({"text": t, "doc": f"doc-{i}"}) + "\n" for i, t in enumerate(TEXTS)))
    translator.save_pretrained(tmp_path / "tr")
    StitchedEncoder(source, translator).save_pretrained(tmp_path / "stitched")
    db = tmp_path / "db"

    def run(*args):
        return subprocess.run([sys.executable, "-m", "hubstitch.cli", *map(str, args)], capture_output=True,
                              text=True, timeout=300, env={**os.environ, "HF_HUB_DISABLE_PROGRESS_BARS": "1"})

    built = run("index", "build", target.ref.model_id, data, "--column", "text", "--id-column", "doc", "--db", db,
                "--table", "docs", "--format", "json")
    assert built.returncode == 0, built.stderr
    assert json.loads(built.stdout)["rows"] == 120
    native = run("index", "query", TEXTS[2], "--db", db, "--table", "docs", "--encoder", target.ref.model_id,
                 "--k", "1", "--format", "json")
    assert json.loads(native.stdout)[0]["hits"][0]["id"] == "doc-2"
    stitched = run("index", "query", TEXTS[2], "--db", db, "--table", "docs", "--pipeline", tmp_path / "stitched")
    assert stitched.returncode == 0, stitched.stderr
    assert stitched.stdout.startswith(f"query: {TEXTS[2]}")
    refused = run("index", "query", "the cat", "--db", db, "--table", "docs", "--encoder", source.ref.model_id)
    assert refused.returncode == 1 and "holds vectors of" in refused.stderr and one_error_line(refused.stderr)
    run("index", "build", source.ref.model_id, data, "--db", db, "--table", "docs_a")
    migrated = run("index", "migrate", "--db", db, "--table", "docs_a", "--translator", tmp_path / "tr",
                   "--to-table", "docs_b")
    assert migrated.returncode == 0, migrated.stderr
    assert "rows: 120" in migrated.stdout


@pytest.mark.parametrize("name", ["../../outside", "../x", "a/b", "/tmp/x", ".hubstitch-staging", "..", "", "x" * 129,
                                  "a\\b", "name with space"])
def test_table_names_that_are_paths_are_refused_before_anything_is_written(parts, tmp_path, name):
    source, _, translator = parts
    db = tmp_path / "db" / "inner"
    outside = tmp_path / "outside"
    (outside / "keep.lance").mkdir(parents=True)
    (outside / "keep.lance" / "data").write_text("precious")
    lancedb_store.build(source, TEXTS[:10], db, "docs", progress=False)
    before = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*"))
    with pytest.raises(IndexTableError, match="is not a plain name"):
        lancedb_store.build(source, TEXTS[:10], db, name, progress=False)
    with pytest.raises(IndexTableError, match="is not a plain name"):
        lancedb_store.migrate(db, "docs", translator, name, progress=False)
    with pytest.raises(IndexTableError, match="is not a plain name"):
        lancedb_store.open_table(db, name)
    assert sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*")) == before
    assert (outside / "keep.lance" / "data").read_text() == "precious"


def test_a_staging_link_out_of_the_database_is_refused_and_its_target_kept(parts, tmp_path):
    source, _, translator = parts
    db = tmp_path / "db"
    lancedb_store.build(source, TEXTS[:10], db, "docs", progress=False)
    outside = tmp_path / "outside"
    (outside / "new.lance").mkdir(parents=True)
    (outside / "new.lance" / "data").write_text("precious")
    (db / ".hubstitch-staging").symlink_to(outside, target_is_directory=True)
    with pytest.raises(IndexTableError, match="symbolic link"):
        lancedb_store.migrate(db, "docs", translator, "new", progress=False)
    (db / ".hubstitch-staging").unlink()
    # a link planted as the stale staged copy itself is refused too, and its target kept
    (db / ".hubstitch-staging").mkdir()
    (db / ".hubstitch-staging" / "new.lance").symlink_to(outside / "new.lance", target_is_directory=True)
    with pytest.raises(IndexTableError, match="symbolic link"):
        lancedb_store.migrate(db, "docs", translator, "new", progress=False)
    assert (outside / "new.lance" / "data").read_text() == "precious"
    assert lancedb.connect(str(db)).list_tables().tables == ["docs"]


def test_a_second_run_writing_the_same_table_is_refused_and_keeps_the_first_ones_staging(parts, tmp_path):
    from hubstitch.index.staging import staged_table

    source, _, translator = parts
    db = tmp_path / "db"
    lancedb_store.build(source, TEXTS[:10], db, "docs", progress=False)
    with staged_table(db, "new") as staged:  # the first run, mid-way
        staged.mkdir()
        (staged / "part").write_text("first run's data")
        with pytest.raises(IndexTableError, match="another run is writing table 'new'"):
            lancedb_store.migrate(db, "docs", translator, "new", progress=False)
        assert (staged / "part").read_text() == "first run's data"
        staged_other = lancedb_store.migrate(db, "docs", translator, "other", progress=False)  # other names go on
        assert staged_other["rows"] == 10
    assert not (db / ".hubstitch-staging" / "new.lock").exists()  # the lock goes with the run that held it
    assert lancedb_store.migrate(db, "docs", translator, "new", progress=False)["rows"] == 10  # clears the stale copy
    assert not (db / ".hubstitch-staging").exists()


def test_readers_never_create_a_database_for_a_mistyped_folder(parts, tmp_path):
    source, _, _ = parts
    with pytest.raises(IndexTableError, match="is not an existing folder"):
        lancedb_store.search(tmp_path / "typo", "docs", source.encode(TEXTS[:1], progress=False), source.ref)
    assert not (tmp_path / "typo").exists()


def test_a_damaged_table_is_an_index_error_naming_the_database_not_a_rust_traceback(parts, tmp_path):
    source, _, translator = parts
    db = tmp_path / "db"
    lancedb_store.build(source, TEXTS[:10], db, "docs", progress=False)
    for data in (db / "docs.lance" / "data").iterdir():
        data.write_bytes(b"garbage")
    with pytest.raises(IndexTableError, match=r"LanceDB failed on the database .*db \(RuntimeError: .*\); expected "
                                              r"intact tables; fix: ") as caught:
        lancedb_store.search(db, "docs", source.encode(TEXTS[:1], progress=False), source.ref)
    assert ".rs:" not in str(caught.value) and "\n" not in str(caught.value)
    with pytest.raises(IndexTableError, match="LanceDB failed on the database"):
        lancedb_store.migrate(db, "docs", translator, "docs_new", progress=False)
    assert not (db / "docs_new.lance").exists()


def test_index_build_with_a_missing_id_column_names_the_columns(tiny, tmp_path, capsys):
    from hubstitch.cli.main import main

    data = tmp_path / "docs.jsonl"
    data.write_text("".join(json.dumps({"text": t}) + "\n" for t in TEXTS[:5]))
    assert main(["index", "build", str(tiny["bert"]), str(data), "--id-column", "doc", "--db", str(tmp_path / "db"),
                 "--table", "docs", "-q"]) == 1
    err = capsys.readouterr().err
    assert "column 'doc' is not in the anchors; they have ['text']" in err and "unexpected" not in err


def test_a_translator_with_no_recorded_source_migrates_with_a_warning_and_says_so_in_the_table(parts, tmp_path,
                                                                                               caplog):
    source, target, _ = parts
    db = tmp_path / "db"
    lancedb_store.build(source, TEXTS[:20], db, "docs", progress=False)
    x, y = source.encode(TEXTS, progress=False), target.encode(TEXTS, progress=False)
    bare = hubstitch.fit_translator(x, y, method="linear", alpha=0.1)  # bare latents: no source or target recorded
    with caplog.at_level("WARNING"):
        lancedb_store.migrate(db, "docs", bare, "docs_bare", progress=False)
    assert "records no source or target model" in caplog.text
    _, _, record = lancedb_store.open_table(db, "docs_bare")
    assert record["translator"]["unverified"] == ["source", "target"]


def test_lancedb_users_search_built_and_migrated_tables_with_text(parts, tmp_path):
    """The tables record hubstitch's LanceDB embedding function: `table.search("text")` embeds the query with the
    table's own encoder (built) or the translator's target model (migrated), in a process that only imports
    LanceDB and registers the function."""
    source, target, translator = parts
    db = tmp_path / "db"
    lancedb_store.build(source, TEXTS, db, "docs", ids=[f"d{i}" for i in range(len(TEXTS))], progress=False)
    lancedb_store.migrate(db, "docs", translator, "docs_target", progress=False)
    code = ("import json, sys, lancedb\nimport hubstitch.index.lancedb_function  # registers 'hubstitch'\n"
            "db = lancedb.connect(sys.argv[1])\n"
            "print(json.dumps({name: [[h['id'] for h in db.open_table(name).search(q).limit(5).to_list()]"
            " for q in json.loads(sys.argv[2])] for name in ('docs', 'docs_target')}))\n")
    queries = TEXTS[:20]
    run = subprocess.run([sys.executable, "-c", code, str(db), json.dumps(queries)], capture_output=True, text=True,
                         timeout=600)
    assert run.returncode == 0, run.stderr[-2000:]
    found = json.loads(run.stdout.strip().splitlines()[-1])
    text_of = {f"d{i}": t for i, t in enumerate(TEXTS)}  # (some texts repeat: compare texts, not ids)
    assert all(q in {text_of[h] for h in hits} for q, hits in zip(queries, found["docs"]))  # its own encoder
    assert sum(q in {text_of[h] for h in hits} for q, hits in zip(queries, found["docs_target"])) >= 15
    schema = lancedb.connect(str(db)).open_table("docs_target").schema
    functions = json.loads(schema.metadata[b"embedding_functions"])
    assert functions[0]["name"] == "hubstitch" and functions[0]["model"]["model"] == target.ref.model_id


def test_a_migration_rebuilds_the_old_tables_vector_text_and_scalar_indices(tmp_path):
    """Migrating once dropped every index; now they are rebuilt on the new table before it is published."""
    import lancedb.index as kinds

    db = tmp_path / "db"
    translator, target = _big_table(db, rows=600, dim=16)
    old = lancedb.connect(str(db)).open_table("old")
    old.create_index("vector", config=kinds.IvfPq(distance_type="cosine", num_partitions=2, num_sub_vectors=4))
    old.create_index("text", config=kinds.FTS(with_position=False))
    old.create_index("id", config=kinds.BTree())
    summary = lancedb_store.migrate(db, "old", translator, "new", batch_size=250, progress=False)
    assert sorted(summary["indices"]) == sorted(i.name for i in old.list_indices())
    new = lancedb.connect(str(db)).open_table("new")
    kinds_by_name = {i.name: (i.index_type, i.columns) for i in new.list_indices()}
    assert kinds_by_name == {i.name: (i.index_type, i.columns) for i in old.list_indices()}
    assert new.index_stats("vector_idx").distance_type == "cosine"


def test_a_migration_refuses_an_index_it_cannot_rebuild_before_writing_anything(tmp_path, monkeypatch):
    from hubstitch.index import lancedb_indices

    db = tmp_path / "db"
    translator, _ = _big_table(db, rows=300, dim=16)
    lancedb.connect(str(db)).open_table("old").create_index("id", config=lancedb.index.Bitmap())
    monkeypatch.setattr(lancedb_indices, "SCALAR_KINDS", {"BTree": "BTree"})  # stands in for a kind unknown here
    with pytest.raises(IndexTableError, match=r"has indices a migration cannot rebuild: .*id_idx \(Bitmap on "
                                              r".*nothing was written"):
        lancedb_store.migrate(db, "old", translator, "new", progress=False)
    assert lancedb.connect(str(db)).list_tables().tables == ["old"] and not (db / ".hubstitch-staging").exists()
