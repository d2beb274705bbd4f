"""A CI-sized run of the stitching benchmark on real checkpoints: BBC News, MiniLM -> MPNet, `linear`, N = 1024.

It would catch a translator that silently stopped working: the stitched head must keep >= 0.95 of its native
accuracy while the same head fed untranslated source latents (the absolute baseline) must not.
"""

from __future__ import annotations

import pytest
import torch

MAX_LENGTH = 64  # shorter than the benchmark's 128 tokens: the smoke run encodes 1,324 articles twice on CPU


@pytest.mark.slow
def test_linear_translator_keeps_95_percent_of_native_accuracy_and_the_absolute_baseline_does_not(
        shelf_cache, shelf_data):
    from bench_stitching import MINILM, MPNET, accuracy, pad_or_truncate, stitched_accuracy, stratified_split

    from hubstitch.data.anchors import AnchorSet
    from hubstitch.encoders.encoder import Encoder
    from hubstitch.heads.head import ClassifierHead

    articles = AnchorSet.load(str(shelf_data["bbc_news"]), source_column="text", label_column="label")
    names = sorted(set(articles.labels()))
    all_labels = torch.tensor([names.index(label) for label in articles.labels()])
    train, test = stratified_split(all_labels, 0.6, seed=0)
    gen = torch.Generator().manual_seed(0)
    rows = torch.cat([train[torch.randperm(len(train), generator=gen)[:1024]],
                      test[torch.randperm(len(test), generator=gen)[:300]]])
    texts = [articles.source_items()[i] for i in rows.tolist()]
    latents = {}
    for model_id in (MINILM, MPNET):
        encoder = Encoder.from_pretrained(model_id, cache_dir=shelf_cache, local_files_only=True)
        encoder.max_length = MAX_LENGTH
        latents[model_id] = encoder.encode(texts, progress=False)
    labels = all_labels[rows]
    anchors, held = torch.arange(1024), torch.arange(1024, len(rows))
    xs, xt = latents[MINILM], latents[MPNET]
    head = ClassifierHead.fit(xt[anchors], labels[anchors], label_names=names, seed=0)  # target space only
    native = accuracy(head, xt[held], labels[held])
    stitched, _, _ = stitched_accuracy("linear", head, xs, xt, anchors, anchors, held, labels, texts, seed=0)
    absolute = accuracy(head, pad_or_truncate(xs[held], xt.shape[1]), labels[held])
    print(f"native {native:.3f} stitched {stitched:.3f} absolute {absolute:.3f}")
    assert native > 0.9, native
    assert stitched / native >= 0.95, (stitched, native)
    assert absolute / native < 0.6, (absolute, native)
