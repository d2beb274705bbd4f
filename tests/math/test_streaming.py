"""Streamed fits from sufficient statistics equal the in-memory fits; shards add up."""

from __future__ import annotations

import pytest
import torch
from helpers import random_rotation

import hubstitch
from hubstitch.data.statistics import AnchorStatistics
from hubstitch.errors import ArtifactError, DimensionError, StreamingNotSupportedError
from hubstitch.math.estimators import fit_translation, fit_translation_from_statistics


def _pair(gen, n=3000, ds=40, dt=56):
    x = torch.randn(n, ds, generator=gen, dtype=torch.float64) * torch.linspace(0.5, 4, ds, dtype=torch.float64) + 3
    q = random_rotation(dt, gen)
    y = torch.nn.functional.pad(x, (0, dt - ds)) @ q * 2 - 1 + 0.1 * torch.randn(n, dt, generator=gen,
                                                                              dtype=torch.float64)
    x[:, 7] = 0.25  # a dead source dimension
    return x, y


def _chunked(x, y, chunk):
    stats = AnchorStatistics(x.shape[1], y.shape[1])
    for start in range(0, len(x), chunk):
        stats.update(x[start:start + chunk], y[start:start + chunk])
    return stats


@pytest.mark.parametrize("method,options", [
    ("orthogonal", {}), ("orthogonal", {"isotropic_scale": True, "source_preprocessing": "center"}),
    ("orthogonal", {"dim_matching": "truncate"}), ("affine", {}), ("linear", {"alpha": 10.0}),
    ("linear", {"source_preprocessing": "none", "target_preprocessing": "none"}),
])
def test_chunked_equals_in_memory(gen, method, options):
    x, y = _pair(gen)
    in_memory = fit_translation(x, y, method, **options)
    streamed = fit_translation_from_statistics(_chunked(x, y, 257), method, **options)
    fresh = torch.randn(100, x.shape[1], generator=gen, dtype=torch.float64) + 3
    assert torch.allclose(streamed(fresh), in_memory(fresh), atol=1e-6, rtol=0)
    assert streamed.source_prep.dead == in_memory.source_prep.dead == [7]


@pytest.mark.parametrize("method", ["orthogonal", "affine", "linear"])
def test_a_normalised_target_gets_the_same_spread_calibration_streamed(gen, method):
    """Unit-norm targets (sentence embeddings): ``auto`` turns the spread calibration on in memory; the streamed
    fit makes the same decision and stores the same centre and radius from its norm sums."""
    x, y = _pair(gen)
    y = torch.nn.functional.normalize(y, dim=1)
    in_memory = fit_translation(x, y, method)
    streamed = fit_translation_from_statistics(_chunked(x, y, 257), method)
    assert in_memory.options["output_calibration"] == streamed.options["output_calibration"] == "spread"
    assert float(streamed.output_radius) == pytest.approx(float(in_memory.output_radius), abs=1e-6)
    fresh = torch.randn(100, x.shape[1], generator=gen, dtype=torch.float64) + 3
    assert torch.allclose(streamed(fresh), in_memory(fresh), atol=1e-6, rtol=0)
    unnormalised = fit_translation_from_statistics(_chunked(x, y * torch.rand(len(y), 1, generator=gen,
                                                                               dtype=torch.float64), 500), method)
    assert unnormalised.options["output_calibration"] == "none"


def test_shards_add_up_and_travel_as_safetensors(gen, tmp_path):
    x, y = _pair(gen)
    shards = [(x[:1000], y[:1000]), (x[1000:2200], y[1000:2200]), (x[2200:], y[2200:])]
    paths = []
    for i, (xs, ys) in enumerate(shards):  # as separate workers would
        path = tmp_path / f"shard{i}.safetensors"
        _chunked(xs, ys, 333).save(path)
        paths.append(path)
    total = sum((AnchorStatistics.load(p) for p in paths[1:]), AnchorStatistics.load(paths[0]))
    whole = _chunked(x, y, 3000)
    assert total.n == 3000
    for name in ("source_sum", "target_sum", "source_sq", "target_sq", "source_gram", "cross", "target_norm_sum",
                 "target_norm_sq"):
        assert torch.allclose(getattr(total, name), getattr(whole, name), rtol=1e-12, atol=1e-9)
    translator = hubstitch.fit_translator_from_statistics(total, "orthogonal", source_ref="org/a", target_ref="org/b")
    assert translator.config.n_anchors == 3000 and translator.config.source.model_id == "org/a"


def test_streaming_refuses_what_it_cannot_compute(gen, tmp_path):
    x, y = _pair(gen, n=100)
    stats = _chunked(x, y, 50)
    with pytest.raises(StreamingNotSupportedError, match="'mlp'"):
        fit_translation_from_statistics(stats, "mlp")
    with pytest.raises(StreamingNotSupportedError, match="standard\\+l2"):
        fit_translation_from_statistics(stats, "orthogonal", source_preprocessing="standard+l2")
    with pytest.raises(StreamingNotSupportedError, match="with_gram"):
        fit_translation_from_statistics(_chunked_no_gram(x, y), "linear")
    with pytest.raises(StreamingNotSupportedError, match="auto"):
        hubstitch.fit_translator_from_statistics(stats, "auto")
    with pytest.raises(DimensionError, match="width 56"):
        stats.update(y, y)
    with pytest.raises(DimensionError, match="recompute"):
        stats + AnchorStatistics(3, 3)
    bogus = tmp_path / "bogus.safetensors"
    from safetensors.torch import save_file

    save_file({"x": torch.zeros(2)}, str(bogus))
    with pytest.raises(ArtifactError, match="not a hubstitch statistics file"):
        AnchorStatistics.load(bogus)


def _chunked_no_gram(x, y):
    return AnchorStatistics(x.shape[1], y.shape[1], with_gram=False).update(x, y)


def test_without_gram_orthogonal_still_streams(gen):
    x, y = _pair(gen, n=500)
    streamed = fit_translation_from_statistics(_chunked_no_gram(x, y), "orthogonal")
    assert torch.allclose(streamed(x), fit_translation(x, y, "orthogonal")(x), atol=1e-6)


def test_affine_on_nearly_rank_deficient_float32_anchors_is_the_same_streamed(gen):
    """One direction of the anchors is ~1e-8 of the others (a nearly redundant latent dimension, as tiny or
    collapsed encoders give): float32 rounding decides it, so both fits must drop it the same way, not one fit it
    to noise and the other not."""
    x = torch.randn(200, 24, generator=gen, dtype=torch.float64) + 2
    x[:, -1] = x[:, :-1].sum(dim=1) / 4 + 1e-8 * torch.randn(200, generator=gen, dtype=torch.float64)
    y = x @ torch.randn(24, 16, generator=gen, dtype=torch.float64) + 0.05 * torch.randn(200, 16, generator=gen,
                                                                                           dtype=torch.float64)
    x32, y32 = x.float(), y.float()
    in_memory = fit_translation(x32, y32, "affine")
    streamed = fit_translation_from_statistics(_chunked(x32.double(), y32.double(), 64), "affine")
    fresh = (torch.randn(100, 24, generator=gen, dtype=torch.float64) + 2).float()
    assert torch.allclose(streamed(fresh.double()).float(), in_memory(fresh), atol=1e-4, rtol=1e-5)
