"""Word error rate: word-level edit distance over reference words, with a basic English text normaliser.

`word_error_rate` sums substitutions, deletions and insertions over all pairs and divides by the reference words
(the corpus WER that jiwer reports). `normalize_text` lower-cases, drops punctuation (keeping apostrophes inside
words) and collapses whitespace; Whisper's own English normaliser (numbers, spellings) is stricter, and the
benchmarks use it (`benchmarks/bench_generation.py`).

Example:
    >>> from hubstitch.decoders.wer import word_error_rate
    >>> word_error_rate(["the cat sat"], ["The cat sat down."])   # one insertion over three words
    0.3333333333333333
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from ..errors import HubstitchValueError

_PUNCTUATION = re.compile(r"[^\w\s']|(?<!\w)'|'(?!\w)")


def normalize_text(text: str) -> str:
    """Lower case, punctuation removed (apostrophes inside words kept), whitespace collapsed."""
    return " ".join(_PUNCTUATION.sub(" ", text.lower()).split())


def word_errors(reference: Sequence[str], hypothesis: Sequence[str]) -> int:
    """Levenshtein distance between two word sequences (substitutions, deletions, insertions cost 1)."""
    previous = list(range(len(hypothesis) + 1))
    for i, word in enumerate(reference, start=1):
        current = [i]
        for j, other in enumerate(hypothesis, start=1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (word != other)))
        previous = current
    return previous[-1]


def word_error_rate(references: Sequence[str], hypotheses: Sequence[str], normalize: bool = True) -> float:
    """Corpus WER of `hypotheses` against `references` (parallel lists); texts normalised by `normalize_text`."""
    if len(references) != len(hypotheses) or not references:
        raise HubstitchValueError(f"{len(references)} references for {len(hypotheses)} hypotheses; expected "
                                  f"parallel, non-empty lists")
    prepare = normalize_text if normalize else (lambda t: t)
    pairs = [(prepare(r).split(), prepare(h).split()) for r, h in zip(references, hypotheses, strict=True)]
    words = sum(len(r) for r, _ in pairs)
    if words == 0:
        raise HubstitchValueError("the references hold no words; expected transcripts with at least one word")
    return sum(word_errors(r, h) for r, h in pairs) / words
