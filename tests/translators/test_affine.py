"""Translators folded into affine maps and normalisations reproduce the translators themselves."""

from __future__ import annotations

import pytest
import torch

import hubstitch
from hubstitch.translators.affine import NotAffineError, affine_stages, apply_stages


def _pair(gen, normalised: bool):
    x = torch.randn(400, 16, generator=gen, dtype=torch.float64)
    x[:, 3] = 0.5  # a dead source dimension
    y = x @ torch.randn(16, 24, generator=gen, dtype=torch.float64) + 0.3
    if normalised:
        y = torch.nn.functional.normalize(y, dim=1)
    else:
        y[:, 5] = 2.0  # a dead target dimension
    return x, y


@pytest.mark.parametrize("method,options", [
    ("orthogonal", {}), ("orthogonal", {"span_only": False, "isotropic_scale": False}), ("linear", {"alpha": 10.0}),
    ("affine", {}), ("orthogonal", {"source_preprocessing": "center+l2", "target_preprocessing": "standard+l2"}),
    ("linear", {"source_preprocessing": "standard", "target_preprocessing": "l2", "alpha": 1.0}),
    ("orthogonal", {"dim_matching": "truncate"}),
])
@pytest.mark.parametrize("normalised", [False, True])
def test_stages_reproduce_the_translator(gen, method, options, normalised):
    x, y = _pair(gen, normalised)
    translator = hubstitch.fit_translator(x, y, method=method, **options)
    assert translator.config.options["output_calibration"] == ("spread" if normalised else "none")
    stages = affine_stages(translator, normalize_output=False)
    fresh = torch.randn(50, 16, generator=gen, dtype=torch.float64)
    assert torch.allclose(apply_stages(stages, fresh), translator(fresh), atol=1e-9)
    normalised_out = affine_stages(translator, normalize_output=True)
    assert normalised_out[-1] == ("normalize",)
    assert torch.allclose(apply_stages(normalised_out, fresh), torch.nn.functional.normalize(translator(fresh), dim=1),
                          atol=1e-9)
    assert all(a[0] != b[0] for a, b in zip(stages, stages[1:], strict=False))  # consecutive affines merged


@pytest.mark.parametrize("method", ["relative", "mlp"])
def test_non_affine_translators_are_refused_naming_the_affine_methods(gen, method):
    x, y = _pair(gen, False)
    translator = hubstitch.fit_translator(x.float(), y.float(), method=method,
                                          **({"max_epochs": 2} if method == "mlp" else {}))
    with pytest.raises(NotAffineError, match=rf"a '{method}' translator is not an affine map.*'orthogonal', 'affine'"):
        affine_stages(translator)
