"""Closed-form solvers shared by the in-memory and the streamed fits.

Each takes small matrices (cross-products, Gram matrices) so that it does not care where they came from.

Example:
    >>> import torch
    >>> from hubstitch.math.solvers import procrustes
    >>> q, _ = torch.linalg.qr(torch.randn(4, 4, dtype=torch.float64))
    >>> x = torch.randn(50, 4, dtype=torch.float64)
    >>> rotation, scale = procrustes(x.T @ (x @ q))
    >>> torch.allclose(rotation, q)
    True
"""

from __future__ import annotations

import torch

LSTSQ_RCOND = 1e-6  # relative singular-value cutoff of `least_squares`


def procrustes(cross: torch.Tensor, source_sq_norm: torch.Tensor | None = None,
               span_only: bool = False) -> tuple[torch.Tensor, ...]:
    """Orthogonal R maximising trace(R^T cross), cross = X^T Y; with ||X||_F^2 given, the scale s minimising
    ||s X R - Y||.

    With `span_only`, R is fitted on the span of the anchors only: singular directions of `cross` below the
    numerical rank (numpy's ``matrix_rank`` tolerance) are dropped instead of being completed arbitrarily, so a
    direction the anchors never vary along maps to zero (the target mean, after preprocessing is undone) rather
    than to a random one. With full-rank anchors both give the same R.

    Uses `torch.linalg.svd` (not the deprecated `torch.svd`). Returns (R, s) with s = 1 without scaling.
    """
    u, singular, vh = torch.linalg.svd(cross, full_matrices=False)
    if span_only:
        tol = singular[0] * max(cross.shape) * torch.finfo(cross.dtype).eps
        rank = int((singular > tol).sum())
        u, vh = u[:, :rank], vh[:rank]
    rotation = u @ vh
    if source_sq_norm is not None:
        scale = singular.sum() / source_sq_norm.clamp_min(torch.finfo(cross.dtype).tiny)
    else:
        scale = torch.ones((), dtype=cross.dtype)
    return rotation, scale


def ridge(gram: torch.Tensor, cross: torch.Tensor, alpha: float) -> torch.Tensor:
    """W solving (gram + alpha I) W = cross; least squares (minimum norm) when alpha is 0."""
    if alpha > 0:
        eye = torch.eye(gram.shape[0], dtype=gram.dtype, device=gram.device)
        return torch.linalg.solve(gram + alpha * eye, cross)
    return torch.linalg.lstsq(gram, cross, driver="gelsd" if gram.device.type == "cpu" else None).solution


def least_squares(gram: torch.Tensor, cross: torch.Tensor, rcond: float = LSTSQ_RCOND) -> torch.Tensor:
    """Minimum-norm W minimising ||X W - Y|| from gram = X^T X and cross = X^T Y, in float64.

    Directions whose singular value (square root of the Gram's eigenvalue) is below `rcond` times the largest are
    dropped. The in-memory and the streamed affine fits both solve here, so they agree on nearly rank-deficient
    anchors too (float32 latents carry ~1e-7 relative noise; a direction 1e-6 weaker than the strongest is not
    pinned by them).
    """
    eigenvalues, vectors = torch.linalg.eigh(gram.double())
    keep = eigenvalues > (rcond * rcond) * eigenvalues[-1].clamp_min(0)
    kept = vectors[:, keep]
    return (kept @ ((kept.T @ cross.double()) / eigenvalues[keep, None])).to(gram.dtype)


def ridge_no_intercept(x: torch.Tensor, y: torch.Tensor, alpha: float) -> torch.Tensor:
    """Ridge weights W (d, k) for x (n, d) -> y (n, k) without intercept; the dual form when n < d."""
    n, d = x.shape
    if n >= d:
        return ridge(x.T @ x, x.T @ y, alpha)
    return x.T @ ridge(x @ x.T, y, alpha)


def ridge_path(gram: torch.Tensor, cross: torch.Tensor, alphas: list[float]) -> list[torch.Tensor]:
    """Ridge solutions for several alphas from one eigendecomposition of the (symmetric) Gram matrix."""
    eigenvalues, vectors = torch.linalg.eigh(gram)
    projected = vectors.T @ cross
    return [vectors @ (projected / (eigenvalues.clamp_min(0) + alpha)[:, None]) for alpha in alphas]
