"""`AnchorSet` and anchor selection: sources, columns, strategies that keep real indices, and refusals."""

from __future__ import annotations

import json

import pytest
import tiny_models as tm
import torch
from datasets import Dataset, DatasetDict

from hubstitch.data.anchors import AnchorSet, DatasetError
from hubstitch.errors import AnchorCountError, UnknownMethodError
from hubstitch.hub.cache import seed_hub_cache
from hubstitch.math.anchor_selection import select_indices


def _jsonl(path, n=40):
    rows = [{"text": f"item {i}", "caption": f"caption {i}", "label": ["a", "b", "c"][i % 3]} for i in range(n)]
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    return path


def test_sources_csv_jsonl_disk_image_folder_and_hub_cache(tmp_path, monkeypatch):
    jsonl = AnchorSet.load(str(_jsonl(tmp_path / "d.jsonl")), source_column="text", target_column="caption")
    assert len(jsonl) == 40 and jsonl.target_items()[3] == "caption 3"
    (tmp_path / "d.csv").write_text("text,label\n" + "".join(f"row {i},{i % 2}\n" for i in range(10)))
    assert AnchorSet.load(str(tmp_path / "d.csv"), source_column="text").source_items()[0] == "row 0"
    DatasetDict({"train": Dataset.from_dict({"text": ["x", "y"]}), "test": Dataset.from_dict({"text": ["z"]})}
                ).save_to_disk(tmp_path / "disk")
    assert AnchorSet.load(str(tmp_path / "disk"), source_column="text", split="test").source_items() == ["z"]
    for label in ("cat", "dog"):
        (tmp_path / "images" / label).mkdir(parents=True)
        for i, image in enumerate(tm.images(2)):
            image.save(tmp_path / "images" / label / f"{i}.png")
    images = AnchorSet.load(str(tmp_path / "images"), source_column="image", label_column="label")
    assert len(images) == 4 and images.labels() == ["cat", "cat", "dog", "dog"]
    Dataset.from_dict({"text": ["p", "q", "r"]}).to_parquet(tmp_path / "train.parquet")
    (tmp_path / "hubds").mkdir()
    (tmp_path / "train.parquet").rename(tmp_path / "hubds" / "train.parquet")
    seed_hub_cache(tmp_path / "hubds", "org/sentences", tmp_path / "hub", "c" * 40, repo_type="dataset")
    import huggingface_hub.constants as constants

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "hub"))
    hub = AnchorSet.load("org/sentences", source_column="text")
    assert hub.provenance.dataset_id == "org/sentences" and hub.provenance.revision == "c" * 40
    assert hub.source_items() == ["p", "q", "r"]


def test_parquet_files_and_lance_datasets_are_anchor_sources(tmp_path):
    import lance
    import pyarrow as pa

    table = pa.table({"text": [f"row {i}" for i in range(12)], "caption": [f"cap {i}" for i in range(12)]})
    import pyarrow.parquet as pq

    pq.write_table(table, tmp_path / "pairs.parquet")
    lance.write_dataset(table, str(tmp_path / "pairs.lance"))
    for spec in ("pairs.parquet", "pairs.lance"):
        anchors = AnchorSet.load(str(tmp_path / spec), source_column="text", target_column="caption")
        assert len(anchors) == 12 and anchors.target_items()[5] == "cap 5", spec
        assert anchors.provenance.revision.startswith("sha256:")
    before = AnchorSet.load(str(tmp_path / "pairs.parquet"), source_column="text").provenance.revision
    pq.write_table(table.slice(1), tmp_path / "pairs.parquet")
    assert AnchorSet.load(str(tmp_path / "pairs.parquet"), source_column="text").provenance.revision != before


def test_a_fraction_held_out_for_a_small_n_is_proportional_to_n_not_to_the_dataset(tmp_path):
    from hubstitch.data.anchors import HELDOUT_FLOOR, heldout_count

    path = tmp_path / "big.jsonl"
    path.write_text("".join(json.dumps({"text": f"item {i}"}) + "\n" for i in range(2225)))
    anchors = AnchorSet.load(str(path), source_column="text")
    assert len(anchors.split_holdout(0.2)[1]) == 445  # no n: a fifth of everything, as before
    pool, held = anchors.split_holdout(0.2, n=64)  # `fit --n 64` once encoded 445 held-out rows
    assert len(held) == HELDOUT_FLOOR and len(pool) == 2225 - HELDOUT_FLOOR
    assert len(anchors.split_holdout(0.2, n=1000)[1]) == 250  # a fifth of n + held-out
    assert len(anchors.split_holdout(0.2, n=2000)[1]) == 445  # never more than the fraction of everything
    assert len(anchors.split_holdout(30, n=64)[1]) == 30  # a count is a count
    for total, n in ((50, 10), (5000, 3), (5000, 4000)):
        assert heldout_count(0.2, total, n) <= round(0.2 * total)


def test_holdout_and_selection_keep_real_disjoint_indices(tmp_path):
    anchors = AnchorSet.load(str(_jsonl(tmp_path / "d.jsonl")), source_column="text", label_column="label")
    pool, held = anchors.split_holdout(0.25, seed=1)
    assert len(held) == 10 and not set(pool.rows()) & set(held.rows())
    for selection in ("random", "stratified", "kmeans", "farthest"):
        features = torch.randn(len(pool), 5) if selection in ("kmeans", "farthest") else None
        chosen = pool.select(9, seed=3, selection=selection, features=features)
        assert len(set(chosen.rows())) == 9 and set(chosen.rows()) <= set(pool.rows())
        assert chosen.source_items() == [f"item {r}" for r in chosen.rows()]  # both sides stay parallel
        assert chosen.provenance.selection == selection and chosen.provenance.n == 9
    stratified = pool.select(9, selection="stratified")
    assert sorted(stratified.labels()) == ["a"] * 3 + ["b"] * 3 + ["c"] * 3


def test_kmeans_picks_one_real_item_per_cluster_and_farthest_spreads(gen):
    centres = torch.tensor([[0.0, 0.0], [10.0, 0.0], [0.0, 10.0], [10.0, 10.0]])
    x = torch.cat([c + 0.1 * torch.randn(50, 2, generator=gen) for c in centres])
    for selection in ("kmeans", "farthest"):
        idx = select_indices(len(x), 4, selection, features=x, seed=int(torch.randint(0, 1000, (1,), generator=gen)))
        assert sorted((idx // 50).tolist()) == [0, 1, 2, 3], selection


def test_fingerprint_changes_with_the_data_and_columns(tmp_path):
    path = _jsonl(tmp_path / "d.jsonl")
    a = AnchorSet.load(str(path), source_column="text")
    b = AnchorSet.load(str(path), source_column="caption")
    _jsonl(path, n=41)
    c = AnchorSet.load(str(path), source_column="text")
    assert len({a.provenance.fingerprint, b.provenance.fingerprint, c.provenance.fingerprint}) == 3


def test_bad_datasets_are_refused(tmp_path):
    path = _jsonl(tmp_path / "d.jsonl")
    with pytest.raises(DatasetError, match=r"column\(s\) \['body'\] not in .* it has \['text', 'caption', 'label'\]"):
        AnchorSet.load(str(path), source_column="body")
    (tmp_path / "empty.csv").write_text("text,label\n")
    with pytest.raises(DatasetError, match="is empty"):
        AnchorSet.load(str(tmp_path / "empty.csv"), source_column="text")
    anchors = AnchorSet.load(str(path), source_column="text")
    with pytest.raises(AnchorCountError, match="asked for 50 anchors but only 40"):
        anchors.select(50)
    with pytest.raises(UnknownMethodError, match="selection 'best'"):
        anchors.select(5, selection="best")
    with pytest.raises(DatasetError, match="no label column"):
        anchors.select(5, selection="stratified")
