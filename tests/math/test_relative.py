"""Relative representations: invariances to 1e-5 on fresh random data, and parity with scipy's distances."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from helpers import random_rotation
from scipy.spatial.distance import cdist

from hubstitch import RelativeProjection, relative_projection, relative_representation
from hubstitch.errors import DimensionError, UnknownMethodError


def _data(gen, n=64, k=20, d=48):
    return torch.randn(n, d, generator=gen, dtype=torch.float64), torch.randn(k, d, generator=gen,
                                                                             dtype=torch.float64)


def test_cosine_is_invariant_to_rotation_and_rescaling(gen):
    x, anchors = _data(gen)
    q, s = random_rotation(48, gen), float(torch.rand((), generator=gen, dtype=torch.float64)) * 10 + 0.1
    before = relative_projection(x, anchors, "cosine")
    after = relative_projection(s * x @ q, s * anchors @ q, "cosine")
    assert (before - after).abs().max() < 1e-5


def test_euclidean_is_invariant_to_rotation_and_translation(gen):
    x, anchors = _data(gen)
    q, shift = random_rotation(48, gen), torch.randn(48, generator=gen, dtype=torch.float64) * 5
    before = relative_projection(x, anchors, "euclidean")
    after = relative_projection(x @ q + shift, anchors @ q + shift, "euclidean")
    assert (before - after).abs().max() < 1e-5


@pytest.mark.parametrize("projection", ["l1", "linf"])
def test_l1_and_linf_are_invariant_to_translation_permutation_and_sign_flips(gen, projection):
    x, anchors = _data(gen)
    perm = torch.randperm(48, generator=gen)
    signs = torch.where(torch.rand(48, generator=gen) < 0.5, -1.0, 1.0).double()
    shift = torch.randn(48, generator=gen, dtype=torch.float64)
    before = relative_projection(x, anchors, projection)
    after = relative_projection((x + shift)[:, perm] * signs, (anchors + shift)[:, perm] * signs, projection)
    assert (before - after).abs().max() < 1e-5


def test_centred_cosine_is_also_invariant_to_translation_and_plain_cosine_is_not(gen):
    x, anchors = _data(gen)
    shift = torch.randn(48, generator=gen, dtype=torch.float64) * 3
    centred = (relative_projection(x, anchors, "cosine", center=True)
               - relative_projection(x + shift, anchors + shift, "cosine", center=True))
    plain = relative_projection(x, anchors, "cosine") - relative_projection(x + shift, anchors + shift, "cosine")
    assert centred.abs().max() < 1e-5 and plain.abs().max() > 1e-2


def test_projections_match_scipy_distances(gen):
    x, anchors = _data(gen)
    for projection, metric in (("euclidean", "euclidean"), ("l1", "cityblock"), ("linf", "chebyshev")):
        np.testing.assert_allclose(relative_projection(x, anchors, projection).numpy(),
                                   -cdist(x.numpy(), anchors.numpy(), metric), atol=1e-10)
    np.testing.assert_allclose(relative_projection(x, anchors, "cosine").numpy(),
                               1 - cdist(x.numpy(), anchors.numpy(), "cosine"), atol=1e-10)


def test_product_of_cosine_and_euclidean_is_invariant_to_rotation_rescaling_and_translation(gen):
    x, anchors = _data(gen)
    q, s = random_rotation(48, gen), 3.7
    shift = torch.randn(48, generator=gen, dtype=torch.float64)
    for aggregation in ("concat", "sum"):
        before = relative_representation(x, anchors, ("cosine", "euclidean"), center=True, aggregation=aggregation)
        after = relative_representation(s * x @ q + shift, s * anchors @ q + shift, ("cosine", "euclidean"),
                                        center=True, aggregation=aggregation)
        assert (before - after).abs().max() < 1e-5
        assert torch.allclose(before.norm(dim=1), torch.ones(len(x), dtype=torch.float64))


def test_relative_projection_module_keeps_its_anchors(gen):
    x, anchors = _data(gen)
    module = RelativeProjection(anchors, projections=("cosine", "l1"))
    assert module(x).shape == (64, 40) and module.output_dim == 40
    assert torch.equal(module.state_dict()["anchors"], anchors)
    with pytest.raises(DimensionError, match="width 10"):
        module(torch.randn(3, 10))
    with pytest.raises(UnknownMethodError, match="'dot'"):
        RelativeProjection(anchors, projections=("dot",))
