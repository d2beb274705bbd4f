"""A pure-torch forward of torchvision's MobileNetV2 state dict, written from the paper's table (no torchvision).

Independent of transformers: it reads the original tensor names (features.k..., classifier.1...) and applies
conv -> BatchNorm(eps 1e-5) -> ReLU6 blocks with torchvision's symmetric padding.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

# (expansion t, output channels c, repeats n, first stride s), MobileNetV2 paper, Table 2
SETTINGS = [(1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1), (6, 160, 3, 2), (6, 320, 1, 1)]


def _conv_bn(x, state, prefix, stride=1, groups=1, relu=True):
    weight = state[f"{prefix}.0.weight"] if f"{prefix}.0.weight" in state else state[f"{prefix}.weight"]
    bn = f"{prefix}.1" if f"{prefix}.0.weight" in state else None
    x = F.conv2d(x, weight, stride=stride, padding=(weight.shape[-1] - 1) // 2, groups=groups)
    if bn is not None:
        x = F.batch_norm(x, state[f"{bn}.running_mean"], state[f"{bn}.running_var"], state[f"{bn}.weight"],
                         state[f"{bn}.bias"], training=False, eps=1e-5)
    return F.relu6(x) if relu else x


def _bn(x, state, prefix):
    return F.batch_norm(x, state[f"{prefix}.running_mean"], state[f"{prefix}.running_var"], state[f"{prefix}.weight"],
                        state[f"{prefix}.bias"], training=False, eps=1e-5)


def reference_forward(state: dict[str, torch.Tensor], pixels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(pooled 1280-d features, 1000 logits) of normalised `pixels` (B, 3, 224, 224)."""
    x = _conv_bn(pixels, state, "features.0", stride=2)
    index, channels = 1, 32
    for t, c, n, s in SETTINGS:
        for repeat in range(n):
            stride = s if repeat == 0 else 1
            prefix, inp = f"features.{index}.conv", x
            if t == 1:  # no expansion: depthwise, then project
                x = _conv_bn(x, state, f"{prefix}.0", stride=stride, groups=channels)
                x = _bn(F.conv2d(x, state[f"{prefix}.1.weight"]), state, f"{prefix}.2")
            else:
                x = _conv_bn(x, state, f"{prefix}.0")
                x = _conv_bn(x, state, f"{prefix}.1", stride=stride, groups=channels * t)
                x = _bn(F.conv2d(x, state[f"{prefix}.2.weight"]), state, f"{prefix}.3")
            if stride == 1 and channels == c:
                x = x + inp
            channels, index = c, index + 1
    x = _conv_bn(x, state, "features.18")
    pooled = x.mean(dim=(2, 3))
    return pooled, F.linear(pooled, state["classifier.1.weight"], state["classifier.1.bias"])
