"""The demo's Search tab: BBC News articles indexed with all-mpnet-base-v2 in LanceDB, searched by a query typed
in all-MiniLM-L6-v2's space through a translator, beside the same query searched natively with MPNet.

Built on first use from the shelf and kept in the workspace (the translator folder and the LanceDB table), so a
second start reads them from disk: `n_docs` article bodies (their first 600 characters, about the 128 tokens the
benchmarks read) are the collection; the titles, bodies and the bodies' sentences of `n_anchors` other articles
are the anchor pairs of the MiniLM -> MPNet translator, fitted `orthogonal`: the recipe BENCHMARKS.md measures
best for an index (sentences lift translated queries from 0.79 to 0.88 of native nDCG@10 at 256 articles).

Example:
    >>> from hubstitch.demo.search import DemoSearch  # doctest: +SKIP
    >>> search = DemoSearch(stages)  # doctest: +SKIP
    >>> stitched, native = search.search("Shares fell at the bank", k=5)  # doctest: +SKIP
"""

from __future__ import annotations

import threading
from typing import Any

import torch

from .stages import MINILM, MPNET, DemoStages

BODY_CHARS = 600
TABLE = "bbc_mpnet"


class DemoSearch:
    """An MPNet index of BBC News and the stitched MiniLM encoder that queries it (built once, thread-safe)."""

    def __init__(self, stages: DemoStages, n_docs: int = 200, n_anchors: int = 200, seed: int = 0) -> None:
        self.stages, self.n_docs, self.n_anchors, self.seed = stages, n_docs, n_anchors, seed
        self.db = stages.workspace / "index"
        self._lock = threading.Lock()
        self._parts: dict[str, Any] | None = None

    def _articles(self) -> tuple[list[str], list[str], torch.Tensor]:
        from ..data.anchors import AnchorSet
        from ..shelf.datasets import body, install_datasets, title

        folder = install_datasets(["bbc_news"], self.stages.datasets_dir)["bbc_news"]
        texts = AnchorSet.load(str(folder), source_column="text").source_items()
        titles = [title(t) for t in texts]
        bodies = [(body(t) or t)[:BODY_CHARS] for t in texts]
        return titles, bodies, torch.randperm(len(texts), generator=torch.Generator().manual_seed(self.seed))

    def parts(self) -> dict[str, Any]:
        """{stitched, native, documents}, building the translator and the index the first time."""
        with self._lock:
            if self._parts is None:
                self._parts = self._build()
            return self._parts

    def _build(self) -> dict[str, Any]:
        from ..data.sentences import extra_sentences
        from ..index import lancedb_store
        from ..pipelines.embedding import StitchedEncoder
        from ..translators.fit import fit_translator
        from ..translators.translator import Translator

        minilm, mpnet = self.stages.encoder(MINILM), self.stages.encoder(MPNET)
        titles, bodies, order = self._articles()
        docs, anchors = order[: self.n_docs].tolist(), order[self.n_docs: self.n_docs + self.n_anchors].tolist()
        folder = self.stages.workspace / "minilm-to-mpnet-bbc-sentences"
        if (folder / "model.safetensors").is_file():
            translator = Translator.from_pretrained(folder)
        else:
            pairs = [titles[i] for i in anchors] + [bodies[i] for i in anchors]
            pairs += [s for i in anchors for s in extra_sentences(bodies[i])]
            translator = fit_translator(self.stages.encode(minilm, pairs), self.stages.encode(mpnet, pairs),
                                        method="orthogonal", holdout=0.1, seed=self.seed, source_ref=minilm.ref,
                                        target_ref=mpnet.ref)
            translator.save_pretrained(folder)
        documents = [{"id": str(i), "title": titles[i]} for i in docs]
        if not (self.db / f"{TABLE}.lance").is_dir():
            with self.stages._encoder_lock(mpnet):
                lancedb_store.build(mpnet, [bodies[i] for i in docs], self.db, TABLE, ids=[d["id"] for d in documents],
                                    texts=[d["title"] for d in documents], progress=False)
        return {"stitched": StitchedEncoder(minilm, translator), "native": mpnet, "documents": documents}

    def documents(self) -> list[dict[str, str]]:
        return self.parts()["documents"]

    def search(self, query: str, k: int = 5) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        """(hits of the MiniLM query through the translator, hits of the MPNet query), each {id, text, score}."""
        from ..index import lancedb_store

        parts = self.parts()
        stitched, native = parts["stitched"], parts["native"]
        with self.stages._encoder_lock(stitched.encoder):
            translated = stitched.encode([query])
        with self.stages._encoder_lock(native):
            own = native.encode([query], progress=False)
        return (lancedb_store.search(self.db, TABLE, translated, stitched.space, k=k, who="stitched encoder")[0],
                lancedb_store.search(self.db, TABLE, own, native.ref, k=k)[0])
