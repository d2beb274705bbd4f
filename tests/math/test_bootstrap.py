"""Matching without pairs: CSLS and Gromov-Wasserstein against references, bootstrapped and unsupervised pairings
against a known ground truth on fresh random spaces."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from helpers import random_rotation

import hubstitch
from hubstitch.errors import AnchorCountError, DimensionError, HubstitchValueError
from hubstitch.math.bootstrap import bootstrap_pairs, unsupervised_pairs
from hubstitch.math.matching import (
    csls,
    entropic_gromov_wasserstein,
    match_structures,
    nearest_pairs,
    structure_mismatch,
)


def _clustered(gen, n=600, d=32, clusters=12, spread=4.0):
    """Anisotropic clusters: what real encoders' latents look like more than one Gaussian blob."""
    centers = spread * torch.randn(clusters, d, generator=gen, dtype=torch.float64)
    scales = torch.linspace(1.5, 0.3, d, dtype=torch.float64)
    labels = torch.randint(clusters, (n,), generator=gen)
    return centers[labels] + torch.randn(n, d, generator=gen, dtype=torch.float64) * scales


def test_csls_equals_its_definition_computed_item_by_item(gen):
    a, b = torch.randn(7, 5, generator=gen, dtype=torch.float64), torch.randn(9, 5, generator=gen, dtype=torch.float64)
    k = 3
    cos = [[float(torch.nn.functional.cosine_similarity(a[i], b[j], dim=0)) for j in range(9)] for i in range(7)]
    r_a = [np.mean(sorted(row, reverse=True)[:k]) for row in cos]
    r_b = [np.mean(sorted((cos[i][j] for i in range(7)), reverse=True)[:k]) for j in range(9)]
    expected = np.array([[2 * cos[i][j] - r_a[i] - r_b[j] for j in range(9)] for i in range(7)])
    np.testing.assert_allclose(csls(a, b, k).numpy(), expected, atol=1e-12)


def test_nearest_pairs_both_directions_and_mutual():
    sims = torch.tensor([[0.9, 0.1, 0.0], [0.8, 0.2, 0.1], [0.0, 0.3, 0.7]])
    rows, cols = nearest_pairs(sims)
    assert sorted(zip(rows.tolist(), cols.tolist())) == [(0, 0), (1, 0), (2, 1), (2, 2)]
    rows, cols = nearest_pairs(sims, mutual_only=True)
    assert sorted(zip(rows.tolist(), cols.tolist())) == [(0, 0), (2, 2)]


def test_entropic_gromov_wasserstein_equals_pot(gen):
    ot = pytest.importorskip("ot")
    a = torch.randn(10, 4, generator=gen, dtype=torch.float64)
    b = torch.randn(10, 4, generator=gen, dtype=torch.float64)
    c1, c2 = torch.cdist(a, a), torch.cdist(b, b)
    c1, c2 = c1 / c1.max(), c2 / c2.max()
    ours = entropic_gromov_wasserstein(c1, c2, epsilon=0.05, iterations=200, sinkhorn_iterations=1000)
    uniform = np.full(10, 0.1)
    theirs = ot.gromov.entropic_gromov_wasserstein(c1.numpy(), c2.numpy(), uniform, uniform, "square_loss",
                                                   epsilon=0.05, max_iter=200, tol=1e-12, solver="PGD")
    np.testing.assert_allclose(ours.numpy(), theirs, atol=1e-5)
    np.testing.assert_allclose(ours.sum(dim=0).numpy(), uniform, atol=1e-9)  # Sinkhorn ends on the columns
    np.testing.assert_allclose(ours.sum(dim=1).numpy(), uniform, atol=1e-5)


@pytest.mark.parametrize("k", [6, 14])
def test_match_structures_recovers_a_permutation_of_the_same_structure(gen, k):
    points = torch.randn(k, 6, generator=gen, dtype=torch.float64)
    order = torch.randperm(k, generator=gen)
    c1 = points @ points.T
    c2 = c1[order][:, order]  # item i of c2 is item order[i] of c1
    assignment = match_structures(c1, c2, seed=0)
    assert structure_mismatch(c1, c2, assignment) < 1e-9
    assert torch.equal(order[assignment], torch.arange(k))


def test_bootstrap_recovers_over_90_percent_of_a_known_pairing_from_8_seeds(gen):
    x = _clustered(gen)
    q = random_rotation(32, gen)
    y = 2.0 * x @ q + 0.5 + 0.01 * torch.randn(600, 32, generator=gen, dtype=torch.float64)
    seeds = torch.randperm(600, generator=gen)[:8]
    order = torch.randperm(600, generator=gen)  # the target pool: the same items, shuffled
    result = bootstrap_pairs(x[seeds], y[seeds], x, y[order])
    correct = order[result.target_index] == result.source_index
    assert int(correct.sum()) > 0.9 * 600 and float(correct.double().mean()) > 0.9
    assert result.converged and result.rounds[-1]["pseudo_anchors"] == len(result.source_index)
    # with 8 seeds alone the map is far off; with the pools it is close
    seeds_only = hubstitch.fit_translator(x[seeds], y[seeds], method="orthogonal")
    grown = hubstitch.fit_translator(x[seeds], y[seeds], method="orthogonal", unpaired_source=x,
                                     unpaired_target=y[order])
    fresh = _clustered(torch.Generator().manual_seed(1))
    truth = 2.0 * fresh @ q + 0.5
    error = {name: float((t(fresh) - truth).norm() / (truth - truth.mean(0)).norm())
             for name, t in (("seeds", seeds_only), ("grown", grown))}
    assert error["grown"] < 0.02 < error["seeds"]
    pairing = grown.config.pairing
    assert pairing["mode"] == "bootstrap" and pairing["seed_pairs"] == 8 and pairing["unpaired_source"] == 600
    assert grown.config.n_anchors == 8 + pairing["pseudo_anchors"] and pairing["rounds"][0]["round"] == 1


def test_bootstrap_with_disjoint_pools_still_pins_the_map(gen):
    data = _clustered(gen, n=1408)
    q = random_rotation(32, gen)
    # 12 seed pairs: with 8, 10 of 200 draws left the grown map above 0.25 (the seeds could not start it); with 16,
    # 2 of 200 draws had the seeds alone below 0.25; with 12, none of 200 failed either way
    seeds, fresh = data[:12], data[1208:]
    source_pool, target_pool = data[12:608], data[608:1208] @ q  # no item is in both pools
    translator = hubstitch.fit_translator(seeds, seeds @ q, method="orthogonal", unpaired_source=source_pool,
                                          unpaired_target=target_pool)
    seeds_only = hubstitch.fit_translator(seeds, seeds @ q, method="orthogonal")
    error = {name: float((t(fresh) - fresh @ q).norm() / (fresh @ q - (fresh @ q).mean(0)).norm())
             for name, t in (("seeds", seeds_only), ("grown", translator))}
    assert error["grown"] < 0.25 < error["seeds"]


def test_unsupervised_alignment_recovers_a_random_rotation_of_clustered_data(gen):
    x = _clustered(gen, n=800, d=24, clusters=10, spread=5.0)
    q = random_rotation(24, gen)
    order = torch.randperm(800, generator=gen)
    translator = hubstitch.fit_unsupervised(x, (x @ q)[order], seed=0)
    fresh = _clustered(torch.Generator().manual_seed(4), n=200, d=24, clusters=10, spread=5.0)
    assert float((translator(fresh) - fresh @ q).norm() / (fresh @ q).norm()) < 1e-4
    pairing = translator.config.pairing
    assert pairing["mode"] == "unsupervised" and pairing["seed_pairs"] == 0
    chosen = next(a for a in pairing["attempts"] if a["attempt"] == pairing["chosen_attempt"])
    assert chosen["consistency"] == max(a["consistency"] for a in pairing["attempts"]) > 0.9
    source_rows, target_rows = translator.pseudo_anchor_index
    assert float((order[target_rows] == source_rows).double().mean()) > 0.99


def test_unsupervised_pairs_reports_every_attempt(gen):
    x = _clustered(gen, n=300, d=16, clusters=6)
    result, attempts = unsupervised_pairs(x, x @ random_rotation(16, gen), max_runs=3, stop_at=2.0)
    assert [a["attempt"] for a in attempts] == [1, 2, 3]
    assert all({"structure_mismatch", "start_pairs", "pseudo_anchors", "consistency"} <= set(a) for a in attempts)
    assert len(result.source_index) == len(result.target_index) > 0


def test_unpaired_input_errors_name_the_fix(gen):
    x = torch.randn(20, 8, generator=gen)
    with pytest.raises(HubstitchValueError, match="unpaired_source and unpaired_target go together"):
        hubstitch.fit_translator(x, x, method="orthogonal", unpaired_source=x)
    with pytest.raises(DimensionError, match="unpaired source latents have width 6; expected 8"):
        hubstitch.fit_translator(x, x, method="orthogonal", unpaired_source=torch.randn(30, 6), unpaired_target=x)
    with pytest.raises(AnchorCountError, match="got 1 seed pairs; it needs at least 2.*fit_unsupervised"):
        hubstitch.fit_translator(x[:1], x[:1], method="orthogonal", unpaired_source=x, unpaired_target=x)
