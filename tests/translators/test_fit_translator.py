"""`fit_translator`: auto selection that follows the data, held-out metrics, and clear errors on bad input."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from helpers import random_rotation

import hubstitch
from hubstitch.errors import (
    AnchorCountError,
    DimensionError,
    HubstitchValueError,
    LatentsError,
    UnknownMethodError,
)


def _best_scores(report):
    best = {}
    for row in report["candidates"]:
        if "score" in row:
            best[row["method"]] = max(best.get(row["method"], -1.0), row["score"])
    return best


def _direction_only(gen, n, d=64):
    """The target depends on each item's direction only; the source norm is a nuisance spanning decades."""
    directions = torch.nn.functional.normalize(torch.randn(n, d, generator=gen), dim=1)
    radius = torch.exp(1.5 * torch.randn(n, 1, generator=gen))
    q = random_rotation(d, torch.Generator().manual_seed(99), torch.float32)
    return directions * radius, directions @ q


def test_auto_picks_the_argmax_of_its_recorded_cross_validation_scores(gen):
    x, y = _direction_only(gen, 200)
    translator = hubstitch.fit_translator(x, y, method="auto")
    report = translator.config.selection
    scored = [r for r in report["candidates"] if "score" in r]
    best = max(scored, key=lambda r: r["score"])
    assert translator.config.method == best["method"] == report["chosen"]["method"]
    assert translator.config.options.get("alpha") == best["options"].get("alpha")
    assert report["folds"] == 5 and all({"top1", "cosine"} <= set(r) for r in scored)


def test_auto_searches_preprocessing_and_scaling_at_a_bounded_cost(gen):
    x = torch.randn(600, 16, generator=gen)
    q = random_rotation(16, gen, torch.float32)
    y = 3 * x @ q + 1.0
    translator = hubstitch.fit_translator(x, y, method="auto")
    report = translator.config.selection
    searched = {(r["method"], r["options"].get("source_preprocessing"), r["options"].get("isotropic_scale"))
                for r in report["candidates"]}
    for spec in ("none", "center", "standard", "l2", "center+l2", "standard+l2"):
        assert {("orthogonal", spec, True), ("orthogonal", spec, False), ("affine", spec, None)} <= searched
    search = report["search"]
    assert search["candidates"] == len(report["candidates"]) == 72
    assert search["fits"] < search["full_cross_validation_fits"] / 2  # successive halving
    assert all("score" in r and r["round"] >= 1 for r in report["candidates"])
    finalists = [r for r in report["candidates"] if r["folds"] == report["folds"]]
    assert 3 <= len(finalists) < 72
    assert max(finalists, key=lambda r: r["score"])["options"] == report["chosen"]["options"]
    # the chosen candidate recovers the isometry with its shift
    fresh = torch.randn(100, 16, generator=gen)
    assert torch.allclose(translator(fresh), 3 * fresh @ q + 1.0, atol=1e-3)


def test_options_given_to_auto_fix_that_axis_of_the_search(gen):
    x = torch.randn(200, 8, generator=gen)
    y = x @ random_rotation(8, gen, torch.float32)
    report = hubstitch.fit_translator(x, y, method="auto", alpha=3.0, source_preprocessing="center",
                                      target_preprocessing="center").config.selection
    assert {r["options"].get("alpha", 3.0) for r in report["candidates"]} == {3.0}
    assert len(report["candidates"]) == 5  # orthogonal x2, linear, affine, relative
    translator = hubstitch.fit_translator(x, y, method="auto", alpha=3.0)
    assert translator.config.options["source_preprocessing"] in ("none", "center", "standard", "l2", "center+l2",
                                                                  "standard+l2")


def _norm_invariant(row):
    return row["method"] == "relative" or "l2" in row["options"].get("source_preprocessing", "")


def test_auto_follows_the_data_not_one_rule(gen):
    # Where only directions matter, a candidate that ignores the source norm wins (L2 preprocessing or the
    # cosine relative representation), well ahead of the best one that reads the norm.
    x, y = _direction_only(gen, 200)
    translator = hubstitch.fit_translator(x, y, method="auto")
    report = translator.config.selection
    assert _norm_invariant(report["chosen"])
    scored = [r for r in report["candidates"] if "score" in r]
    best_invariant = max(r["cosine"] for r in scored if _norm_invariant(r))
    assert best_invariant > 0.999
    assert max(r["cosine"] for r in scored if not _norm_invariant(r)) < 0.995  # 0.94-0.98 over 16 seeds
    # Where the map is a general linear one with plenty of anchors, a linear least-squares method wins and
    # an orthogonal map (which cannot shear) scores lower.
    x = torch.randn(1000, 32, generator=gen)
    y = x @ torch.randn(32, 24, generator=gen) + 0.1 * torch.randn(1000, 24, generator=gen)
    translator = hubstitch.fit_translator(x, y, method="auto")
    scores = _best_scores(translator.config.selection)
    assert translator.config.method in {"linear", "affine"}
    assert scores["orthogonal"] < scores[translator.config.method] - 0.02


def test_auto_sees_least_squares_collapse_when_n_is_close_to_the_width(gen):
    x = torch.randn(90, 64, generator=gen)
    y = x @ torch.randn(64, 48, generator=gen) + 2 * torch.randn(90, 48, generator=gen)
    translator = hubstitch.fit_translator(x, y, method="auto")
    scores = _best_scores(translator.config.selection)
    assert scores["affine"] < scores["linear"] - 0.02
    assert translator.config.method != "affine"


def test_auto_with_16_anchors_skips_what_cannot_be_fitted_and_says_why(gen):
    x, y = torch.randn(16, 64, generator=gen), torch.randn(16, 64, generator=gen)
    report = hubstitch.fit_translator(x, y, method="auto").config.selection
    affine = next(r for r in report["candidates"] if r["method"] == "affine")
    assert "needs at least 65" in affine["skipped"] and "score" not in affine


def test_holdout_records_metrics_and_is_reproducible(gen):
    x = torch.randn(500, 16, generator=gen)
    y = x @ random_rotation(16, gen, torch.float32)
    a = hubstitch.fit_translator(x, y, method="orthogonal", holdout=0.2, seed=3)
    b = hubstitch.fit_translator(x, y, method="orthogonal", holdout=0.2, seed=3)
    assert a.config.n_anchors == 400 and a.config.metrics["n_heldout"] == 100
    assert a.config.metrics == b.config.metrics
    assert a.config.metrics["heldout"]["top1"] == 1.0


def test_numpy_inputs_are_accepted(gen):
    x = np.random.default_rng(0).standard_normal((100, 8)).astype("float32")
    translator = hubstitch.fit_translator(x, x * 2, method="linear")
    assert translator(x).shape == (100, 8)


@pytest.mark.parametrize("source,target,error,message", [
    (torch.randn(10, 4), torch.randn(9, 4), AnchorCountError, "source has 10 anchors but target has 9"),
    (torch.randn(0, 4), torch.randn(0, 4), LatentsError, r"source latents are empty \(shape \(0, 4\)\)"),
    (torch.ones(10, 4, dtype=torch.int64), torch.randn(10, 4), LatentsError,
     r"dtype torch.int64.*fix: call `\.float\(\)`"),
    (np.ones((10, 4), dtype=np.int32), torch.randn(10, 4), LatentsError, "dtype int32"),
    (torch.randn(10, 4, 2), torch.randn(10, 4), LatentsError, r"shape \(10, 4, 2\); expected 2 dimensions"),
    ([[1.0, 2.0]], torch.randn(1, 2), LatentsError, "are a list; expected a torch.Tensor"),
])
def test_bad_latents_are_refused_with_the_value_and_the_fix(source, target, error, message):
    with pytest.raises(error, match=message) as info:
        hubstitch.fit_translator(source, target, method="orthogonal")
    assert isinstance(info.value, ValueError) and "fix:" in str(info.value)


@pytest.mark.parametrize("bad", [float("nan"), float("inf")])
def test_nan_and_inf_are_refused_naming_the_rows(gen, bad):
    x = torch.randn(20, 4, generator=gen)
    x[7, 2] = bad
    with pytest.raises(LatentsError, match=r"1 NaN or Inf values \(first rows: \[7\]\)"):
        hubstitch.fit_translator(x, torch.randn(20, 4, generator=gen), method="linear")


def test_too_few_anchors_says_how_many(gen):
    x, y = torch.randn(30, 40, generator=gen), torch.randn(30, 40, generator=gen)
    with pytest.raises(AnchorCountError, match=r"method 'affine' got 30 anchors; it needs at least 41"):
        hubstitch.fit_translator(x, y, method="affine")
    with pytest.raises(AnchorCountError, match=r"'mlp' got 5 anchors; it needs at least 10"):
        hubstitch.fit_translator(x[:5], y[:5], method="mlp")
    with pytest.raises(AnchorCountError, match=r"'auto' got 3 anchors; it needs at least 4"):
        hubstitch.fit_translator(x[:3], y[:3], method="auto")


def test_unknown_methods_and_options_are_refused(gen):
    x = torch.randn(20, 4, generator=gen)
    with pytest.raises(UnknownMethodError, match="method 'cca' is not known"):
        hubstitch.fit_translator(x, x, method="cca")
    with pytest.raises(UnknownMethodError, match=r"option\(s\) \['alpha'\] do not apply to method 'orthogonal'"):
        hubstitch.fit_translator(x, x, method="orthogonal", alpha=1.0)
    with pytest.raises(UnknownMethodError, match=r"alpha=-1.0 is out of range; expected a number in \[0.0, inf\]"):
        hubstitch.fit_translator(x, x, method="linear", alpha=-1.0)
    with pytest.raises(HubstitchValueError, match="holdout=1.5"):
        hubstitch.fit_translator(x, x, method="linear", holdout=1.5)
    with pytest.raises(DimensionError, match="width 5; expected 4"):
        hubstitch.fit_translator(x, x, method="linear")(torch.randn(2, 5))
