"""Metrics on held-out pairs: how well translated latents match the true target latents.

All functions take (n, d) tensors or arrays (row i of one side pairs with row i of the other) and return floats.

- `cosine`: mean cosine similarity of paired rows; `mse`: mean squared error.
- `retrieval`: each translated row queries all target rows by cosine similarity; top-k accuracy and MRR.
- `linear_cka`: centred kernel alignment of linear kernels, debiased (Song et al., 2012) by default.
- `mutual_knn`: mean overlap of each row's k nearest neighbours (cosine) in the two spaces.
- `relevance`: queries against a document collection with relevance judgments (query -> set of relevant
  documents): recall@k, nDCG@k (binary gains) and MRR, ranking documents by cosine similarity.

Example:
    >>> import torch
    >>> from hubstitch import metrics
    >>> x = torch.randn(50, 8)
    >>> round(metrics.linear_cka(x, 2 * x), 6), metrics.mutual_knn(x, x, k=5)
    (1.0, 1.0)
"""

from __future__ import annotations

from collections.abc import Collection, Sequence

import torch
from torch import nn

from .errors import AnchorCountError, DimensionError
from .math.validation import as_latents, as_pair


def cosine(pred, target) -> float:
    """Mean cosine similarity of paired rows."""
    x, y = as_pair(pred, target)
    return float(nn.functional.cosine_similarity(x, y, dim=1).mean())


def mse(pred, target) -> float:
    """Mean squared error over all entries."""
    x, y = as_pair(pred, target)
    if x.shape[1] != y.shape[1]:
        raise AnchorCountError(f"mse needs equal widths, got {x.shape[1]} and {y.shape[1]}; fix: compare latents "
                               f"of the same space")
    return float(((x - y) ** 2).mean())


def retrieval(pred, target, ks: Sequence[int] = (1, 5)) -> dict[str, float]:
    """Top-k accuracy and mean reciprocal rank of finding target row i from translated row i."""
    x, y = as_pair(pred, target)
    scores = nn.functional.normalize(x, dim=1) @ nn.functional.normalize(y, dim=1).T
    correct = scores.diagonal().unsqueeze(1)
    ranks = (scores > correct).sum(dim=1) + 1
    result = {f"top{k}": float((ranks <= k).double().mean()) for k in ks}
    result["mrr"] = float((1.0 / ranks.double()).mean())
    return result


def _unbiased_hsic(k: torch.Tensor, l_: torch.Tensor) -> torch.Tensor:
    n = k.shape[0]
    k, l_ = k.clone(), l_.clone()
    k.fill_diagonal_(0)
    l_.fill_diagonal_(0)
    trace = (k * l_).sum()
    sums = k.sum() * l_.sum() / ((n - 1) * (n - 2))
    cross = 2.0 / (n - 2) * (k.sum(dim=0) @ l_.sum(dim=1))
    return (trace + sums - cross) / (n * (n - 3))


def linear_cka(x, y, debiased: bool = True) -> float:
    """Linear CKA between two representations of the same n items (widths may differ)."""
    x, y = as_pair(x, y)
    x, y = x.double(), y.double()
    n = x.shape[0]
    if debiased:
        if n < 4:
            raise AnchorCountError(f"debiased CKA needs at least 4 items, got {n}; fix: evaluate on more pairs")
        k, l_ = x @ x.T, y @ y.T
        value = _unbiased_hsic(k, l_) / (_unbiased_hsic(k, k) * _unbiased_hsic(l_, l_)).sqrt()
        return float(value)
    x, y = x - x.mean(dim=0), y - y.mean(dim=0)
    return float((x.T @ y).norm() ** 2 / ((x.T @ x).norm() * (y.T @ y).norm()))


def _knn(x: torch.Tensor, k: int) -> torch.Tensor:
    x = nn.functional.normalize(x, dim=1)
    sims = x @ x.T
    sims.fill_diagonal_(-float("inf"))
    return sims.topk(k, dim=1).indices


def mutual_knn(x, y, k: int = 10) -> float:
    """Mean fraction of shared k nearest neighbours (cosine, self excluded) of each item in the two spaces."""
    x, y = as_pair(x, y)
    n = x.shape[0]
    if n <= k:
        raise AnchorCountError(f"mutual_knn with k={k} needs more than {k} items, got {n}; fix: lower k or "
                               f"evaluate on more pairs")
    a = torch.zeros(n, n, dtype=torch.bool).scatter_(1, _knn(x, k), True)
    b = torch.zeros(n, n, dtype=torch.bool).scatter_(1, _knn(y, k), True)
    return float((a & b).sum(dim=1).double().mean() / k)


def evaluate(pred, target, k: int = 10) -> dict[str, float]:
    """Every metric of this module on held-out pairs: translated latents `pred` against true `target`."""
    x, y = as_pair(as_latents(pred, "translated"), as_latents(target, "target"))
    result = {"cosine": cosine(x, y), "mse": mse(x, y), **retrieval(x, y)}
    n = x.shape[0]
    if n >= 4:
        result["cka"] = linear_cka(x, y)
    if n > k:
        result["mutual_knn"] = mutual_knn(x, y, k)
    return result


def relevance(queries, documents, relevant: Sequence[Collection[int]], ks: Sequence[int] = (1, 5, 10),
              ndcg_k: int = 10, block: int = 1024) -> dict[str, float]:
    """Retrieval quality of `queries` (n_q, d) against `documents` (n_d, d) given `relevant[i]`, the indices of
    the documents relevant to query i: mean recall@k for each k, nDCG@`ndcg_k` with binary gains, and MRR over the
    full ranking. Documents are ranked by cosine similarity; queries are scored `block` at a time.

    Example:
        >>> import torch
        >>> from hubstitch.metrics import relevance
        >>> docs = torch.eye(4)
        >>> queries = torch.tensor([[1.0, 0.0, 0.0, 0.0], [0.1, 0.9, 0.5, 0.0]])  # the second finds doc 2 second
        >>> {k: round(v, 3) for k, v in relevance(queries, docs, [{0}, {2}], ks=(1,), ndcg_k=2).items()}
        {'recall@1': 0.5, 'ndcg@2': 0.815, 'mrr': 0.75}
    """
    q, d = as_latents(queries, "query"), as_latents(documents, "document")
    if q.shape[1] != d.shape[1]:
        raise DimensionError(f"queries have width {q.shape[1]} but documents {d.shape[1]}; expected one space; fix: "
                             f"translate the queries into the documents' space first")
    if len(relevant) != len(q):
        raise AnchorCountError(f"{len(relevant)} relevance sets for {len(q)} queries; expected one per query")
    sets = [sorted({int(i) for i in r}) for r in relevant]
    empty = [i for i, r in enumerate(sets) if not r]
    if empty or any(not 0 <= i < len(d) for r in sets for i in r):
        raise AnchorCountError(f"relevance sets must name 1 or more documents in [0, {len(d)}); queries {empty[:5]} "
                               f"have none or name a document out of range; fix: drop those queries")
    q, d = nn.functional.normalize(q.double(), dim=1), nn.functional.normalize(d.double(), dim=1)
    recall, ndcg, reciprocal = {k: 0.0 for k in ks}, 0.0, 0.0
    discount = 1.0 / torch.log2(torch.arange(2, ndcg_k + 2, dtype=torch.float64))
    for start in range(0, len(q), block):
        scores = q[start:start + block] @ d.T
        order = scores.argsort(dim=1, descending=True)
        for row, docs in zip(order, sets[start:start + block], strict=True):
            hits = torch.isin(row, torch.tensor(docs))
            for k in ks:
                recall[k] += float(hits[:k].sum()) / len(docs)
            dcg = float((hits[:ndcg_k].double() * discount[: min(ndcg_k, len(row))]).sum())
            ndcg += dcg / float(discount[: min(len(docs), ndcg_k)].sum())
            reciprocal += 1.0 / (int(torch.nonzero(hits)[0]) + 1)
    n = len(q)
    return {**{f"recall@{k}": recall[k] / n for k in ks}, f"ndcg@{ndcg_k}": ndcg / n, "mrr": reciprocal / n}
