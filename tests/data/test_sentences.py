"""Sentence anchors: each text anchor followed by its sentences, with provenance; refused where they cannot pair."""

from __future__ import annotations

import json

import pytest

from hubstitch.data.anchors import AnchorSet
from hubstitch.data.sentences import auto_sentences, extra_sentences, split_sentences, with_sentences
from hubstitch.errors import HubstitchValueError

ARTICLES = [
    {"text": "Markets rally. Shares rose 3% on Monday. Bonds fell sharply in late trade!", "label": "business"},
    {"text": "Cup final tonight", "label": "sport"},
    {"text": "The home side won two nil at the weekend? Fans cheered the late winner.", "label": "sport"},
]


@pytest.fixture
def articles(tmp_path):
    path = tmp_path / "articles.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in ARTICLES))
    return AnchorSet.load(str(path), source_column="text", label_column="label")


def test_split_sentences_keeps_those_of_enough_words():
    text = "Markets rally. Shares rose 3% on Monday.\nBonds fell sharply in late trade!"
    assert split_sentences(text) == ["Shares rose 3% on Monday.", "Bonds fell sharply in late trade!"]
    assert split_sentences(text, min_words=1) == ["Markets rally.", "Shares rose 3% on Monday.",
                                                  "Bonds fell sharply in late trade!"]
    assert split_sentences("no end mark at all here") == ["no end mark at all here"]
    assert extra_sentences(" One whole sentence of words. ") == []  # a one-sentence text adds nothing
    assert extra_sentences(text) == ["Shares rose 3% on Monday.", "Bonds fell sharply in late trade!"]


def test_each_row_is_followed_by_its_sentences_with_its_label_and_a_new_fingerprint(articles):
    expanded = with_sentences(articles, min_words=4)
    items = expanded.source_items()
    assert items == [ARTICLES[0]["text"], "Shares rose 3% on Monday.", "Bonds fell sharply in late trade!",
                     ARTICLES[1]["text"],
                     ARTICLES[2]["text"], "The home side won two nil at the weekend?", "Fans cheered the late winner."]
    assert expanded.labels() == ["business"] * 3 + ["sport"] * 4
    assert expanded.target_items() == items and expanded.provenance.n == 7 == len(expanded)
    assert expanded.provenance.sentences == 4 and expanded.provenance.dataset_id == articles.provenance.dataset_id
    assert expanded.provenance.fingerprint != articles.provenance.fingerprint
    other_rows = with_sentences(articles.select(2, seed=0), min_words=4)
    other_words = with_sentences(articles, min_words=5)
    fingerprints = {e.provenance.fingerprint for e in (expanded, other_rows, other_words)}
    assert len(fingerprints) == 3  # another selection or word count is another cache entry


def test_a_budget_keeps_every_row_and_a_seeded_subset_of_the_sentences(articles):
    capped = with_sentences(articles, min_words=4, max_items=5, seed=1)
    items = capped.source_items()
    assert len(items) == 5 and [t for t in items if t in {a["text"] for a in ARTICLES}] == [a["text"] for a in
                                                                                          ARTICLES]
    every = set(with_sentences(articles).source_items())
    assert set(items) <= every
    assert with_sentences(articles, min_words=4, max_items=5, seed=1).source_items() == items
    seeds = {tuple(with_sentences(articles, max_items=5, seed=s).source_items()) for s in range(8)}
    assert len(seeds) > 1  # another seed, another subset
    assert capped.provenance.fingerprint != with_sentences(articles).provenance.fingerprint
    assert capped.provenance.sentence_budget == 5 and with_sentences(articles).provenance.sentence_budget is None
    uncapped = with_sentences(articles).provenance.fingerprint
    assert with_sentences(articles, max_items=100).provenance.fingerprint == uncapped  # under budget: the same set


def test_auto_adds_sentences_to_documents_only(articles, tmp_path):
    expanded, why = auto_sentences(articles)
    assert expanded is not None and len(expanded) == 7 and expanded.provenance.sentences == 4
    assert "3 anchor texts followed by 4 of their 4 sentences" in why
    path = tmp_path / "titles.jsonl"
    texts = ["Markets rally on Monday morning.", "Cup final tonight", "Fans cheer. The late winner came."]
    path.write_text("".join(json.dumps({"text": t, "tr": t.upper()}) + "\n" for t in texts))
    titles = AnchorSet.load(str(path), source_column="text")
    assert auto_sentences(titles) == (None, "the 3 anchor texts hold 1 further sentences of 4+ words")
    pairs = AnchorSet.load(str(path), source_column="text", target_column="tr")
    assert auto_sentences(pairs)[0] is None and "pair two columns" in auto_sentences(pairs)[1]


def test_sentences_of_two_columns_are_refused(tmp_path):
    path = tmp_path / "pairs.jsonl"
    path.write_text(json.dumps({"en": "One two three four. Five six seven eight.", "de": "Eins zwei."}) + "\n")
    pairs = AnchorSet.load(str(path), source_column="en", target_column="de")
    with pytest.raises(HubstitchValueError, match="pair column 'en' with 'de'.*fix: drop --anchor-sentences"):
        with_sentences(pairs)
    with pytest.raises(HubstitchValueError, match="min_words=0"):
        with_sentences(AnchorSet.load(str(path), source_column="en"), min_words=0)


def test_a_bad_anchor_sentences_setting_is_refused_before_any_work(articles):
    from hubstitch.workflows.fit import fit_from_encoders

    for engine in ("local", "ray"):
        with pytest.raises(HubstitchValueError, match="anchor_sentences='yes'; expected 'auto', None or a minimum"):
            fit_from_encoders(None, None, articles, anchor_sentences="yes", engine=engine)


@pytest.mark.slow
def test_sentence_anchors_lift_translated_queries_on_real_checkpoints(shelf_cache, shelf_data, tmp_path):
    """BBC News, MiniLM -> MPNet, 32 anchor articles: translated title queries search MPNet's index of 150 other
    articles' bodies. With the articles' sentences as more pairs (`anchor_sentences=4`), nDCG@10 rises well above
    the whole-article fit (bench_retrieval: 0.51 -> 0.81 of native at 64 articles); the default does the same."""
    import torch
    from datasets import load_from_disk

    from hubstitch.data.latent_cache import LatentCache
    from hubstitch.encoders.encoder import Encoder
    from hubstitch.metrics import relevance
    from hubstitch.workflows.fit import fit_from_encoders

    texts = load_from_disk(str(shelf_data["bbc_news"]))["text"]
    order = torch.randperm(len(texts), generator=torch.Generator().manual_seed(0)).tolist()
    anchor_rows, queried = order[:32], order[32:182]
    path = tmp_path / "anchors.jsonl"
    path.write_text("".join(json.dumps({"text": texts[i]}) + "\n" for i in anchor_rows))
    anchors = AnchorSet.load(str(path), source_column="text")
    minilm, mpnet = (Encoder.from_pretrained(f"sentence-transformers/{name}", cache_dir=shelf_cache,
                                             local_files_only=True)
                     for name in ("all-MiniLM-L6-v2", "all-mpnet-base-v2"))
    minilm.max_length = mpnet.max_length = 128
    titles = [texts[i].partition("\n")[0].strip() for i in queried]
    bodies = [texts[i].partition("\n")[2].strip() for i in queried]
    queries, index = minilm.encode(titles, progress=False), mpnet.encode(bodies, progress=False)
    relevant = [{i} for i in range(len(queried))]
    native = relevance(mpnet.encode(titles, progress=False), index, relevant)["ndcg@10"]
    scores = {}
    for sentences in (None, 4, "auto"):
        translator = fit_from_encoders(minilm, mpnet, anchors, holdout=0, method="orthogonal", progress=False,
                                       anchor_sentences=sentences, cache=LatentCache(tmp_path / "cache"))
        with torch.no_grad():
            scores[sentences] = relevance(translator(queries), index, relevant)["ndcg@10"] / native
        if sentences:
            assert translator.config.n_anchors > 10 * 32 and translator.config.anchors.sentences == 4
    assert scores[4] > scores[None] + 0.1 and scores[4] > 0.7, scores
    assert scores["auto"] == pytest.approx(scores[4], abs=1e-6)  # the default: articles are documents, 32 < budget


def test_the_card_says_whether_every_sentence_or_a_budgeted_subset_was_used(articles):
    import torch

    from hubstitch import fit_translator
    from hubstitch.translators.card import render_translator_card

    x = torch.randn(40, 8, generator=torch.Generator().manual_seed(0))
    for expanded, phrase in ((with_sentences(articles), "each text followed by its sentences of 4+ words,"),
                             (with_sentences(articles, max_items=5),
                              "each text followed by a seeded subset of its sentences of 4+ words (5 rows at most)")):
        translator = fit_translator(x, x, method="orthogonal", anchors=expanded.provenance)
        assert phrase in str(render_translator_card(translator.config))
        assert type(translator.config).from_dict(translator.config.to_dict()).anchors == expanded.provenance
