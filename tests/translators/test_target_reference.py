"""`fit_translator(..., target_reference=...)`: the anchors' target side moved to the mean of the decoder's own
domain (captions -> product descriptions), exactly where the two differ by an offset; refused where it cannot work."""

from __future__ import annotations

import pytest
import torch
from helpers import random_rotation

import hubstitch
from hubstitch.errors import AnchorCountError, DimensionError, HubstitchValueError


@pytest.mark.parametrize("method", ["orthogonal", "affine", "auto"])
def test_an_offset_between_the_anchor_domain_and_the_reference_domain_is_removed_exactly(gen, method):
    """Captions of items are X Q + c_caption in the target space, descriptions of the same items X Q + c_desc: a
    translator fitted on (X, captions) with the descriptions as reference maps fresh items onto X Q + c_desc."""
    x = torch.randn(400, 24, generator=gen, dtype=torch.float64) * 2 + 1
    q = random_rotation(24, gen)
    c_caption, c_desc = torch.randn(24, generator=gen, dtype=torch.float64), torch.randn(24, generator=gen,
                                                                                            dtype=torch.float64)
    captions, descriptions = x @ q + c_caption, x[:150] @ q + c_desc
    descriptions += x.mean(dim=0) @ q - x[:150].mean(dim=0) @ q  # the same content mean as the anchors
    fresh = torch.randn(50, 24, generator=gen, dtype=torch.float64) * 2 + 1
    plain = hubstitch.fit_translator(x, captions, method=method)
    moved = hubstitch.fit_translator(x, captions, method=method, target_reference=descriptions)
    assert torch.allclose(plain(fresh), fresh @ q + c_caption, atol=1e-5)
    assert torch.allclose(moved(fresh), fresh @ q + c_desc, atol=1e-5)
    assert moved.config.anchors.target_reference == 150 and plain.config.anchors.target_reference is None


def test_held_out_metrics_are_taken_in_the_reference_frame(gen):
    x = torch.randn(300, 16, generator=gen, dtype=torch.float64)
    q = random_rotation(16, gen)
    reference = x[:100] @ q + 5.0
    translator = hubstitch.fit_translator(x, x @ q, method="orthogonal", holdout=60, target_reference=reference)
    assert translator.config.metrics["heldout"]["mse"] < 0.05  # shifted targets: no 5.0 offset in the error


def test_a_reference_that_cannot_work_is_refused(gen):
    x = torch.randn(100, 8, generator=gen)
    with pytest.raises(DimensionError, match="target reference"):
        hubstitch.fit_translator(x, x, method="orthogonal", target_reference=torch.randn(10, 9, generator=gen))
    with pytest.raises(AnchorCountError, match="target_reference has 1 row.*at least 2"):
        hubstitch.fit_translator(x, x, method="orthogonal", target_reference=torch.randn(1, 8, generator=gen))
    with pytest.raises(HubstitchValueError, match="target_reference with unpaired pools is not supported"):
        hubstitch.fit_translator(x[:8], x[:8], target_reference=x, unpaired_source=x, unpaired_target=x)


def test_fit_from_encoders_takes_an_anchor_set_and_refuses_the_rest_before_any_work(tmp_path):
    import json

    from hubstitch import AnchorSet
    from hubstitch.engines.ray_cluster import EngineError
    from hubstitch.workflows.fit import fit_from_encoders

    path = tmp_path / "texts.jsonl"
    path.write_text("".join(json.dumps({"text": f"item {i}"}) + "\n" for i in range(4)))
    texts = AnchorSet.load(str(path), source_column="text")
    with pytest.raises(HubstitchValueError, match="target_reference is a Tensor; expected an AnchorSet"):
        fit_from_encoders(None, None, texts, target_reference=torch.zeros(4, 8))
    with pytest.raises(EngineError, match="method 'orthogonal' is fitted from streamed sums; fix: method 'auto'"):
        fit_from_encoders(None, None, texts, target_reference=texts, engine="ray", method="orthogonal", holdout=0)
