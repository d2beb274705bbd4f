"""Training of the residual MLP map: Adam, seeded, early-stopped on held-out anchors.

The linear skip starts from the ridge solution and the MLP's output layer from zero, so training starts at
ridge and early stopping keeps the best held-out epoch: the MLP can only improve on ridge on held-out anchors.

Example:
    >>> import torch
    >>> from hubstitch.math.maps import ResidualMLPMap
    >>> from hubstitch.math.mlp import train_residual_mlp
    >>> from hubstitch.math.translation import resolve_options
    >>> x = torch.randn(200, 4); y = torch.tanh(x)
    >>> m = ResidualMLPMap(4, 4, hidden_dim=32)
    >>> losses = train_residual_mlp(m, x, y, resolve_options("mlp", {"max_epochs": 20}))
    >>> len(losses) <= 20
    True
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import nn

from . import solvers
from .maps import ResidualMLPMap


def train_residual_mlp(mapping: ResidualMLPMap, xp: torch.Tensor, yp: torch.Tensor, opts: dict[str, Any],
                       progress: Callable[[int, float], None] | None = None) -> list[float]:
    """Train `mapping` in place on preprocessed anchors; returns the held-out MSE after each epoch."""
    generator = torch.Generator().manual_seed(int(opts["seed"]))
    xp, yp = xp.float(), yp.float()
    n = xp.shape[0]
    order = torch.randperm(n, generator=generator)
    n_val = min(max(2, round(n * opts["val_fraction"])), n - 2)
    val, train = order[:n_val], order[n_val:]
    x_train, y_train, x_val, y_val = xp[train], yp[train], xp[val], yp[val]

    weight = solvers.ridge_no_intercept(x_train.double(), y_train.double(), float(opts["alpha"]))
    with torch.no_grad():
        mapping.skip.weight.copy_(weight.T.float())
        mapping.skip.bias.zero_()
        nn.init.kaiming_uniform_(mapping.hidden.weight, a=5**0.5, generator=generator)
        nn.init.zeros_(mapping.hidden.bias)
    mapping.train()
    optimizer = torch.optim.AdamW(mapping.parameters(), lr=opts["lr"], weight_decay=opts["weight_decay"])
    best_loss, since_best, history = _val_loss(mapping, x_val, y_val), 0, []
    best_state = {k: v.clone() for k, v in mapping.state_dict().items()}
    batch = int(opts["batch_size"])
    for epoch in range(int(opts["max_epochs"])):
        mapping.train()
        permutation = torch.randperm(len(train), generator=generator)
        for start in range(0, len(train), batch):
            idx = permutation[start:start + batch]
            optimizer.zero_grad()
            loss = nn.functional.mse_loss(mapping(x_train[idx]), y_train[idx])
            loss.backward()
            optimizer.step()
        val_loss = _val_loss(mapping, x_val, y_val)
        history.append(val_loss)
        if progress is not None:
            progress(epoch, val_loss)
        if val_loss < best_loss - 1e-7:
            best_loss, since_best = val_loss, 0
            best_state = {k: v.clone() for k, v in mapping.state_dict().items()}
        else:
            since_best += 1
            if since_best >= int(opts["patience"]):
                break
    mapping.load_state_dict(best_state)
    mapping.eval()
    for parameter in mapping.parameters():
        parameter.requires_grad_(False)
    return history


def _val_loss(mapping: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    mapping.eval()
    with torch.no_grad():
        return float(nn.functional.mse_loss(mapping(x), y))
