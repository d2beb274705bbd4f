"""Estimators against theory (known transformations recovered) and independent references (scipy, sklearn)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from helpers import random_rotation
from scipy.linalg import orthogonal_procrustes
from sklearn.linear_model import LinearRegression, Ridge

from hubstitch.math.estimators import fit_translation

NONE = {"source_preprocessing": "none", "target_preprocessing": "none"}
CENTER = {"source_preprocessing": "center", "target_preprocessing": "center"}


@pytest.mark.parametrize("n,d", [(200, 16), (500, 64), (64, 64)])
def test_orthogonal_equals_scipy_procrustes(gen, n, d):
    x = torch.randn(n, d, generator=gen, dtype=torch.float64)
    y = torch.randn(n, d, generator=gen, dtype=torch.float64)
    translation = fit_translation(x, y, "orthogonal", isotropic_scale=True, **NONE)
    reference, singular_sum = orthogonal_procrustes(x.numpy(), y.numpy())
    np.testing.assert_allclose(translation.map.rotation.numpy(), reference, atol=1e-6)
    # scipy returns the sum of singular values; the least-squares scale is that over ||X||_F^2.
    np.testing.assert_allclose(float(translation.map.scale) * float((x * x).sum()), singular_sum, rtol=1e-6)
    np.testing.assert_allclose(translation(x).numpy(), float(translation.map.scale) * x.numpy() @ reference,
                               atol=1e-6)


def test_known_rotation_scale_and_shift_are_recovered(gen):
    d = 48
    q = random_rotation(d, gen)
    x = torch.randn(400, d, generator=gen, dtype=torch.float64) * torch.linspace(0.5, 3, d, dtype=torch.float64)
    shift = torch.randn(d, generator=gen, dtype=torch.float64)
    y = 1.7 * x @ q + shift
    translation = fit_translation(x, y, "orthogonal", isotropic_scale=True, **CENTER)
    assert torch.allclose(translation.map.rotation, q, atol=1e-8)
    assert abs(float(translation.map.scale) - 1.7) < 1e-8
    fresh = torch.randn(50, d, generator=gen, dtype=torch.float64)
    assert torch.allclose(translation(fresh), 1.7 * fresh @ q + shift, atol=1e-8)


@pytest.mark.parametrize("scale,shift", [(1.0, 0.0), (2.5, 3.0)])
def test_orthogonal_with_no_options_recovers_rotation_isotropic_scale_and_shift(gen, scale, shift):
    """The defaults keep an isometry exact: Y = s X Q + b is recovered from 2,000 x 64 Gaussian latents."""
    x = torch.randn(2000, 64, generator=gen)
    q = random_rotation(64, gen, torch.float32)
    b = shift * torch.randn(64, generator=gen)
    translation = fit_translation(x, scale * x @ q + b, "orthogonal")
    fresh = torch.randn(500, 64, generator=gen)
    expected = scale * fresh @ q + b
    relative_error = float((translation(fresh) - expected).norm() / expected.norm())
    assert relative_error < 1e-5
    # per-dimension standardisation (the old default, still an option) breaks the isometry
    standard = fit_translation(x, scale * x @ q + b, "orthogonal", source_preprocessing="standard",
                               target_preprocessing="standard")
    assert float((standard(fresh) - expected).norm() / expected.norm()) > 1e-3


def test_span_only_leaves_unseen_directions_at_the_target_mean(gen):
    """With fewer anchors than dimensions the rotation is fitted on their span; the rest is not guessed."""
    d, n = 32, 12
    q = random_rotation(d, gen)
    x = torch.randn(n, d, generator=gen, dtype=torch.float64)
    y = x @ q + 1.0
    translation = fit_translation(x, y, "orthogonal")
    assert torch.allclose(translation(x), y, atol=1e-10)  # the anchors themselves are exact
    basis = torch.linalg.qr((x - x.mean(dim=0)).T)[0]  # the anchors' (centred) span
    outside = torch.randn(5, d, generator=gen, dtype=torch.float64)
    outside = outside - (outside @ basis) @ basis.T
    assert torch.allclose(translation(x.mean(dim=0) + outside), y.mean(dim=0).expand(5, d), atol=1e-10)
    completed = fit_translation(x, y, "orthogonal", span_only=False)  # the classic completion guesses
    assert not torch.allclose(completed(x.mean(dim=0) + outside), y.mean(dim=0).expand(5, d), atol=1e-3)


def test_orthogonal_without_scale_keeps_norms(gen):
    x = torch.randn(300, 20, generator=gen, dtype=torch.float64)
    y = 5 * x @ random_rotation(20, gen)
    translation = fit_translation(x, y, "orthogonal", isotropic_scale=False, **NONE)
    assert float(translation.map.scale) == 1.0
    assert torch.allclose(translation(x).norm(dim=1), x.norm(dim=1))


def test_pad_384_to_768_and_back(gen):
    q = random_rotation(768, gen)
    x = torch.randn(1000, 384, generator=gen, dtype=torch.float64)
    y = torch.nn.functional.pad(x, (0, 384)) @ q
    forward = fit_translation(x, y, "orthogonal", **CENTER)
    backward = fit_translation(y, x, "orthogonal", **CENTER)
    assert forward.map.matched_dim == backward.map.matched_dim == 768
    fresh = torch.randn(20, 384, generator=gen, dtype=torch.float64)
    fresh_y = torch.nn.functional.pad(fresh, (0, 384)) @ q
    assert torch.allclose(forward(fresh), fresh_y, atol=1e-6)
    assert torch.allclose(backward(fresh_y), fresh, atol=1e-6)
    assert backward(fresh_y).shape == (20, 384)


def test_truncation_keeps_the_leading_dimensions(gen):
    q = random_rotation(32, gen)
    x = torch.randn(500, 32, generator=gen, dtype=torch.float64)
    wide = torch.cat([x, 1e-3 * torch.randn(500, 32, generator=gen, dtype=torch.float64)], dim=1)
    translation = fit_translation(wide, x @ q, "orthogonal", dim_matching="truncate", **CENTER)
    assert translation.map.matched_dim == 32
    assert torch.allclose(translation(wide), x @ q, atol=1e-6)
    narrow = fit_translation(x, torch.cat([x @ q, x[:, :8]], dim=1), "orthogonal", dim_matching="truncate", **CENTER)
    assert narrow(x).shape == (500, 40)
    # The columns past the matched width come back as the target anchors' mean.
    assert torch.allclose(narrow(x)[:, 32:], x[:, :8].mean(dim=0).expand(500, 8), atol=1e-12)


def test_affine_equals_sklearn_linear_regression(gen):
    x = torch.randn(300, 12, generator=gen, dtype=torch.float64)
    y = torch.randn(300, 7, generator=gen, dtype=torch.float64) + x[:, :7] * 3
    translation = fit_translation(x, y, "affine", **NONE)
    reference = LinearRegression().fit(x.numpy(), y.numpy())
    np.testing.assert_allclose(translation.map.weight.numpy(), reference.coef_.T, atol=1e-8)
    np.testing.assert_allclose(translation.map.bias.numpy(), reference.intercept_, atol=1e-8)


@pytest.mark.parametrize("n,d,alpha", [(300, 20, 1.0), (300, 20, 50.0), (15, 40, 3.0)])
def test_linear_equals_sklearn_ridge_primal_and_dual(gen, n, d, alpha):
    x = torch.randn(n, d, generator=gen, dtype=torch.float64)
    y = torch.randn(n, 9, generator=gen, dtype=torch.float64)
    translation = fit_translation(x, y, "linear", alpha=alpha, **NONE)
    reference = Ridge(alpha=alpha, fit_intercept=False, solver="svd").fit(x.numpy(), y.numpy())
    np.testing.assert_allclose(translation.map.weight.numpy(), reference.coef_.T, atol=1e-8)


def test_affine_recovers_a_known_affine_map(gen):
    x = torch.randn(400, 10, generator=gen, dtype=torch.float64)
    w, b = torch.randn(10, 6, generator=gen, dtype=torch.float64), torch.randn(6, generator=gen, dtype=torch.float64)
    translation = fit_translation(x, x @ w + b, "affine")
    fresh = torch.randn(30, 10, generator=gen, dtype=torch.float64)
    assert torch.allclose(translation(fresh), fresh @ w + b, atol=1e-8)


def test_relative_interpolates_the_anchors_with_small_alpha(gen):
    x = torch.randn(40, 64, generator=gen, dtype=torch.float64)
    y = torch.randn(40, 30, generator=gen, dtype=torch.float64)
    # Without centring the cosine kernel of 40 generic anchors is full rank, so a tiny alpha interpolates.
    translation = fit_translation(x, y, "relative", alpha=1e-9, **NONE)
    assert translation.map.anchors.shape == (40, 64)
    assert torch.allclose(translation(x), y, atol=1e-5)


def test_float32_inputs_give_float32_outputs(gen):
    x = torch.randn(200, 16, generator=gen)
    translation = fit_translation(x, x, "orthogonal")
    assert translation(x).dtype == torch.float32
    assert translation.map.rotation.dtype == torch.float32


def test_mlp_is_seeded_and_beats_ridge_on_a_nonlinear_map(gen):
    x = torch.randn(1500, 8, generator=gen)
    w = torch.randn(8, 8, generator=gen)
    y = torch.tanh(2 * x @ w / 8**0.5)
    train, test = slice(0, 1200), slice(1200, None)
    opts = {"hidden_dim": 64, "max_epochs": 200, "seed": 7}
    first = fit_translation(x[train], y[train], "mlp", **opts)
    second = fit_translation(x[train], y[train], "mlp", **opts)
    assert torch.equal(first(x[test]), second(x[test]))
    ridge = fit_translation(x[train], y[train], "linear")
    mlp_mse = float(((first(x[test]) - y[test]) ** 2).mean())
    ridge_mse = float(((ridge(x[test]) - y[test]) ** 2).mean())
    assert mlp_mse < 0.7 * ridge_mse, (mlp_mse, ridge_mse)


def test_mlp_early_stops_before_max_epochs(gen):
    x = torch.randn(60, 16, generator=gen)
    y = torch.randn(60, 16, generator=gen)  # pure noise: held-out loss cannot keep improving
    epochs = []
    fit_translation(x, y, "mlp", hidden_dim=256, max_epochs=400, patience=5, lr=1e-2,
                    progress=lambda epoch, loss: epochs.append(epoch))
    assert len(epochs) < 400
