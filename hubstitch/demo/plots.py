"""Figures for the demo's Inspect tab: anchors in 2-D before and after translation, similarity matrices, and
accuracy against the number of anchors from the benchmark results.

Example:
    >>> import torch
    >>> from hubstitch.demo.plots import anchors_2d
    >>> x, y = torch.randn(50, 8), torch.randn(50, 6)
    >>> fig = anchors_2d(x, y, y + 0.1 * torch.randn(50, 6), labels=["a", "b"] * 25)
    >>> len(fig.axes)
    2
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import torch


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _pca_2d(x: torch.Tensor, basis: torch.Tensor | None = None, mean: torch.Tensor | None = None):
    x = x.double()
    mean = x.mean(0) if mean is None else mean
    if basis is None:
        basis = torch.linalg.svd(x - mean, full_matrices=False)[2][:2].T
    return (x - mean) @ basis, basis, mean


def anchors_2d(source: torch.Tensor, target: torch.Tensor, translated: torch.Tensor,
               labels: Sequence[str] | None = None):
    """Left: source anchors and target anchors, each in its own PCA plane (two unrelated spaces). Right: translated
    source anchors and target anchors in the target's PCA plane, where they should overlap."""
    plt = _pyplot()
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4.5))
    classes = sorted(set(labels)) if labels else [None]
    colours = {c: plt.cm.tab10(i % 10) for i, c in enumerate(classes)}
    src, _, _ = _pca_2d(source)
    tgt, basis, mean = _pca_2d(target)
    moved, _, _ = _pca_2d(translated, basis, mean)
    for c in classes:
        rows = list(range(len(source))) if c is None else [i for i, v in enumerate(labels) if v == c]
        left.scatter(src[rows, 0], src[rows, 1], s=10, marker="o", color=colours[c], alpha=0.6)
        left.scatter(tgt[rows, 0], tgt[rows, 1], s=12, marker="x", color=colours[c], alpha=0.6)
        right.scatter(tgt[rows, 0], tgt[rows, 1], s=12, marker="x", color=colours[c], alpha=0.6,
                      label=None if c is None else str(c))
        right.scatter(moved[rows, 0], moved[rows, 1], s=10, marker="o", color=colours[c], alpha=0.6)
    left.set_title("before: source (o) and target (x), each in its own PCA plane")
    right.set_title("after: translated source (o) on target (x), target's PCA plane")
    if labels:
        right.legend(fontsize=7, markerscale=1.5, loc="best")
    fig.tight_layout()
    return fig


def similarity_matrices(source: torch.Tensor, target: torch.Tensor, translated: torch.Tensor, k: int = 40):
    """Cosine similarities among the first `k` anchors in each space: the relative views that stitching relies on."""
    plt = _pyplot()
    fig, axes = plt.subplots(1, 3, figsize=(13, 4.2))
    for ax, (title, x) in zip(axes, (("source space", source), ("target space", target),
                                     ("translated source", translated)), strict=True):
        x = torch.nn.functional.normalize(x[:k].double(), dim=1)
        image = ax.imshow((x @ x.T).numpy(), vmin=-1, vmax=1, cmap="RdBu_r")
        ax.set_title(title)
        ax.set_xticks([])
        ax.set_yticks([])
    fig.colorbar(image, ax=axes, shrink=0.8)
    return fig


def accuracy_vs_anchors(results_json: str | Path):
    """Stitched accuracy against N from ``bench_stitching.json`` (text -> text and image -> text)."""
    plt = _pyplot()
    result = json.loads(Path(results_json).read_text())
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.2))
    rows = [r for r in result["text_to_text"] if r["pair"] == "MiniLM -> MPNet" and "skipped" not in r]
    for method in dict.fromkeys(r["method"] for r in rows):
        sel = [r for r in rows if r["method"] == method]
        axes[0].errorbar([r["n"] for r in sel], [r["accuracy"]["mean"] for r in sel],
                         yerr=[r["accuracy"]["std"] for r in sel], marker="o", capsize=3, label=method)
    axes[0].axhline(rows[0]["native"], color="k", ls="--", label="native")
    axes[0].set(xscale="log", xlabel="anchors N", ylabel="accuracy", title="BBC News, MiniLM -> MPNet head")
    cross = [r for r in result["image_to_text"]["rows"] if "skipped" not in r]
    for method in dict.fromkeys(r["method"] for r in cross):
        sel = [r for r in cross if r["method"] == method]
        axes[1].errorbar([r["n"] for r in sel], [r["accuracy"]["mean"] for r in sel],
                         yerr=[r["accuracy"]["std"] for r in sel], marker="o", capsize=3, label=method)
    axes[1].axhline(result["image_to_text"]["chance"], color="r", ls=":", label="chance")
    axes[1].set(xscale="log", xlabel="image-caption anchors N", title="Fashion-MNIST images -> MiniLM text head")
    for ax in axes:
        ax.legend(fontsize=7)
    fig.tight_layout()
    return fig
