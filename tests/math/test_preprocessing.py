"""Preprocessing: exact inverses, guarded zero variance, L2 with the mean norm, and dead dimensions."""

from __future__ import annotations

import pytest
import torch
from helpers import random_rotation

from hubstitch.errors import LatentsError, UnknownMethodError
from hubstitch.math.estimators import fit_translation
from hubstitch.math.preprocessing import Preprocessor

MINILM_DEAD = [127, 223, 319]
MPNET_DEAD = [34, 555, 688, 756]


@pytest.mark.parametrize("spec", ["none", "center", "standard"])
def test_inverse_undoes_forward(gen, spec):
    x = torch.randn(100, 12, generator=gen, dtype=torch.float64) * 4 + 2
    prep = Preprocessor(12, spec).fit(x)
    assert torch.allclose(prep.inverse(prep(x)), x, atol=1e-12)


def test_standard_scaling_gives_zero_mean_unit_variance(gen):
    x = torch.randn(500, 6, generator=gen, dtype=torch.float64) * torch.arange(1, 7) + 10
    z = Preprocessor(6, "standard").fit(x)(x)
    assert torch.allclose(z.mean(dim=0), torch.zeros(6, dtype=torch.float64), atol=1e-12)
    assert torch.allclose(z.std(dim=0), torch.ones(6, dtype=torch.float64), atol=1e-12)


def test_zero_variance_is_guarded(gen):
    x = torch.randn(50, 5, generator=gen)
    x[:, 3] = 7.0
    prep = Preprocessor(5, "standard").fit(x)
    z = prep(x)
    assert torch.isfinite(z).all() and prep.dead == [3] and z.shape == (50, 4)
    assert torch.allclose(prep.inverse(z)[:, 3], torch.full((50,), 7.0))


def test_l2_restores_the_anchors_mean_norm(gen):
    x = torch.randn(200, 10, generator=gen, dtype=torch.float64) * torch.rand(200, 1, generator=gen,
                                                                             dtype=torch.float64) * 5
    prep = Preprocessor(10, "l2").fit(x)
    z = prep(x)
    assert torch.allclose(z.norm(dim=1), torch.full((200,), float(x.norm(dim=1).mean()), dtype=torch.float64))


def test_constant_anchors_and_unknown_specs_are_refused():
    with pytest.raises(LatentsError, match="constant"):
        Preprocessor(3, "standard").fit(torch.ones(10, 3))
    with pytest.raises(UnknownMethodError, match="'zscore'"):
        Preprocessor(3, "zscore")


def _latentis_style(x, y, x_new):
    """Reference for what scaling dead dimensions by 1 does (latentis 0.0.8): standard scaling, std 0 -> 1."""
    def fit_scale(v):
        std = v.std(dim=0)
        return v.mean(dim=0), torch.where(std < 1e-4, torch.ones_like(std), std)

    (mx, sx), (my, sy) = fit_scale(x), fit_scale(y)
    xs, ys = (x - mx) / sx, (y - my) / sy
    u, _, vh = torch.linalg.svd(xs.T @ ys)
    return ((x_new - mx) / sx) @ (u @ vh) * sy + my


def test_dead_dimensions_are_dropped_in_and_restored_to_the_target_mean_out(gen):
    """Real encoders have (near) constant dimensions; they must not receive junk after translation."""
    n, d = 2000, 768
    q = random_rotation(d, gen, dtype=torch.float32)
    x = torch.randn(n + 200, d, generator=gen)
    y = x @ q
    # Near-constant dimensions, as in all-MiniLM-L6-v2 / all-mpnet-base-v2: tiny jitter around a fixed value.
    x[:, MINILM_DEAD] = 0.3 + 1e-7 * torch.randn(n + 200, 3, generator=gen)
    y[:, MPNET_DEAD] = -0.8 + 1e-7 * torch.randn(n + 200, 4, generator=gen)
    anchors_x, anchors_y, fresh = x[:n], y[:n], x[n:]

    translation = fit_translation(anchors_x, anchors_y, "orthogonal")
    assert translation.source_prep.dead == MINILM_DEAD
    assert translation.target_prep.dead == MPNET_DEAD
    ours = translation(fresh)[:, MPNET_DEAD]
    target_mean = anchors_y[:, MPNET_DEAD].mean(dim=0)
    assert torch.allclose(ours, target_mean.expand_as(ours), atol=1e-6)

    junk = (_latentis_style(anchors_x, anchors_y, fresh)[:, MPNET_DEAD] - target_mean).abs().mean()
    assert junk > 0.1, f"the reference should show junk in dead dimensions, got {junk}"
    # The live dimensions are translated as well as without dead dimensions at all.
    live = [i for i in range(d) if i not in MPNET_DEAD]
    cosine = torch.nn.functional.cosine_similarity(translation(fresh)[:, live], y[n:, live]).mean()
    assert cosine > 0.99
