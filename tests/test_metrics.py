"""Metrics against theory and against independent, deliberately naive reference implementations."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from helpers import random_rotation

from hubstitch import metrics
from hubstitch.errors import AnchorCountError


def _debiased_cka_reference(x: np.ndarray, y: np.ndarray) -> float:
    """Song et al. (2012) unbiased HSIC written out term by term with loops over the kernel entries."""
    def hsic(k, l_):
        n = len(k)
        k, l_ = k.copy(), l_.copy()
        np.fill_diagonal(k, 0)
        np.fill_diagonal(l_, 0)
        term1 = sum(k[i, j] * l_[j, i] for i in range(n) for j in range(n))
        term2 = k.sum() * l_.sum() / ((n - 1) * (n - 2))
        term3 = 2 / (n - 2) * sum(k[i, :].sum() * l_[i, :].sum() for i in range(n))
        return (term1 + term2 - term3) / (n * (n - 3))

    k, l_ = x @ x.T, y @ y.T
    return hsic(k, l_) / np.sqrt(hsic(k, k) * hsic(l_, l_))


def test_cka_is_one_under_rotation_and_scaling(gen):
    x = torch.randn(80, 30, generator=gen, dtype=torch.float64)
    y = 4.2 * x @ random_rotation(30, gen)
    assert abs(metrics.linear_cka(x, y) - 1) < 1e-10
    assert abs(metrics.linear_cka(x, y, debiased=False) - 1) < 1e-10


def test_debiased_cka_matches_reference_and_is_near_zero_for_independent_features(gen):
    x = torch.randn(40, 12, generator=gen, dtype=torch.float64)
    y = torch.randn(40, 7, generator=gen, dtype=torch.float64) + x[:, :7]
    assert abs(metrics.linear_cka(x, y) - _debiased_cka_reference(x.numpy(), y.numpy())) < 1e-10
    a = torch.randn(500, 20, generator=gen, dtype=torch.float64)
    b = torch.randn(500, 20, generator=gen, dtype=torch.float64)
    assert abs(metrics.linear_cka(a, b)) < 0.05
    assert metrics.linear_cka(a, b, debiased=False) > abs(metrics.linear_cka(a, b))  # the biased one overstates


def test_mutual_knn_of_identical_spaces_is_one_and_of_independent_ones_near_k_over_n(gen):
    x = torch.randn(300, 16, generator=gen)
    assert metrics.mutual_knn(x, x, k=10) == 1.0
    assert metrics.mutual_knn(x, 3 * x @ random_rotation(16, gen, torch.float32), k=10) == 1.0
    n, k = 600, 10
    a, b = torch.randn(n, 32, generator=gen), torch.randn(n, 32, generator=gen)
    expected = k / (n - 1)
    assert abs(metrics.mutual_knn(a, b, k=k) - expected) < 0.01


def test_mutual_knn_matches_a_loop_reference(gen):
    a, b = torch.randn(50, 8, generator=gen), torch.randn(50, 8, generator=gen) * 0.3
    b = b + a
    def neighbours(v, i, k):
        v = v / v.norm(dim=1, keepdim=True)
        sims = [(float(v[i] @ v[j]), j) for j in range(len(v)) if j != i]
        return {j for _, j in sorted(sims, reverse=True)[:k]}
    expected = np.mean([len(neighbours(a, i, 5) & neighbours(b, i, 5)) / 5 for i in range(50)])
    assert abs(metrics.mutual_knn(a, b, k=5) - expected) < 1e-12


def test_retrieval_ranks_and_mrr_match_a_loop_reference(gen):
    target = torch.randn(30, 10, generator=gen)
    pred = target + 0.8 * torch.randn(30, 10, generator=gen)
    result = metrics.retrieval(pred, target)
    ranks = []
    for i in range(30):
        sims = torch.nn.functional.cosine_similarity(pred[i:i + 1], target)
        ranks.append(1 + int((sims > sims[i]).sum()))
    assert result["top1"] == np.mean([r == 1 for r in ranks])
    assert result["top5"] == np.mean([r <= 5 for r in ranks])
    assert abs(result["mrr"] - np.mean([1 / r for r in ranks])) < 1e-12
    assert metrics.retrieval(target, target) == {"top1": 1.0, "top5": 1.0, "mrr": 1.0}


def test_cosine_mse_and_evaluate(gen):
    x = torch.randn(40, 6, generator=gen)
    assert abs(metrics.cosine(x, 2 * x) - 1) < 1e-6 and abs(metrics.cosine(x, -x) + 1) < 1e-6
    assert metrics.mse(x, x + 0.5) == pytest.approx(0.25)
    report = metrics.evaluate(x, x)
    assert set(report) == {"cosine", "mse", "top1", "top5", "mrr", "cka", "mutual_knn"}
    with pytest.raises(AnchorCountError, match="needs at least 4"):
        metrics.linear_cka(x[:3], x[:3])
    with pytest.raises(AnchorCountError, match="k=10"):
        metrics.mutual_knn(x[:5], x[:5])


def test_relevance_metrics_equal_independent_references(gen):
    from sklearn.metrics import ndcg_score

    from hubstitch.metrics import relevance

    queries, documents = torch.randn(40, 16, generator=gen), torch.randn(120, 16, generator=gen)
    relevant = [set(torch.randperm(120, generator=gen)[: 1 + i % 4].tolist()) for i in range(40)]
    result = relevance(queries, documents, relevant, ks=(1, 10), ndcg_k=10, block=7)
    unit = torch.nn.functional.normalize
    scores = (unit(queries, dim=1) @ unit(documents, dim=1).T).numpy()
    truth = np.zeros((40, 120))
    for i, docs in enumerate(relevant):
        truth[i, list(docs)] = 1
    assert abs(result["ndcg@10"] - ndcg_score(truth, scores, k=10)) < 1e-9
    ranks = [[int(r) for r in np.argsort(-scores[i])] for i in range(40)]
    recall10 = np.mean([len(set(ranks[i][:10]) & relevant[i]) / len(relevant[i]) for i in range(40)])
    mrr = np.mean([1 / (min(ranks[i].index(j) for j in relevant[i]) + 1) for i in range(40)])
    assert abs(result["recall@10"] - recall10) < 1e-12 and abs(result["mrr"] - mrr) < 1e-12
    # the paired special case: each query's own document, as `retrieval` measures it
    paired = relevance(queries, queries * 3, [{i} for i in range(40)], ks=(1,))
    assert paired["recall@1"] == paired["mrr"] == paired["ndcg@10"] == 1.0


def test_relevance_refuses_bad_judgments(gen):
    from hubstitch.errors import AnchorCountError, DimensionError
    from hubstitch.metrics import relevance

    x = torch.randn(3, 4, generator=gen)
    with pytest.raises(AnchorCountError, match=r"queries \[1\] have none"):
        relevance(x, x, [{0}, set(), {2}])
    with pytest.raises(AnchorCountError, match="2 relevance sets for 3 queries"):
        relevance(x, x, [{0}, {1}])
    with pytest.raises(DimensionError, match="translate the queries"):
        relevance(x, torch.randn(3, 5, generator=gen), [{0}, {1}, {2}])
