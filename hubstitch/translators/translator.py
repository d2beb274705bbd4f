"""`Translator`: a fitted latent-space translator as a Hub artifact (config.json + model.safetensors + README.md).

Loading never unpickles anything: only ``config.json`` and ``model.safetensors`` are read, the config is validated
first, and the tensors must match the shapes and dtypes the config implies, key for key.

Example:
    >>> import tempfile, torch, hubstitch
    >>> x = torch.randn(300, 16); y = x @ torch.linalg.qr(torch.randn(16, 16))[0]
    >>> translator = hubstitch.fit_translator(x, y, method="orthogonal")
    >>> folder = tempfile.mkdtemp()
    >>> translator.save_pretrained(folder)
    >>> reloaded = hubstitch.Translator.from_pretrained(folder)
    >>> torch.equal(reloaded(x), translator(x))
    True
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import torch
from huggingface_hub import ModelCard, PyTorchModelHubMixin
from safetensors.torch import save_file
from torch import nn

from ..errors import ArtifactError, DimensionError
from ..hub.artifact_io import (
    CONFIG_NAME,
    WEIGHTS_NAME,
    artifact_files,
    finish_loading,
    hub_origin,
    load_state_checked,
    read_config,
)
from ..hub.client import OneCommitPush
from ..math.sequence import check_sequences, with_context
from ..math.translation import LatentTranslation
from ..math.validation import check_width
from ..metrics import evaluate
from .card import render_translator_card
from .config import TranslatorConfig

logger = logging.getLogger(__name__)

class Translator(nn.Module, OneCommitPush, PyTorchModelHubMixin, library_name="hubstitch",
                 tags=["hubstitch", "latent-translation", "model-stitching"]):
    """Maps latents of a source encoder to the latent space of a target encoder.

    Build one with `hubstitch.fit_translator`; call it on source latents (n, source_dim) to get target latents
    (n, target_dim) that an unmodified decoder of the target space consumes.
    """

    def __init__(self, config: TranslatorConfig) -> None:
        super().__init__()
        if isinstance(config, dict):
            config = TranslatorConfig.from_dict(config)
        self.config = config
        self.hub_origin: tuple[str, str] | None = None  # (repo id, commit) when loaded from the Hub
        # (source pool rows, target pool rows) of the pseudo-anchors of a bootstrapped or unsupervised fit; not saved
        self.pseudo_anchor_index: tuple[torch.Tensor, torch.Tensor] | None = None
        self.translation = LatentTranslation(config.method, config.source_input_dim, config.target.dim,
                                             config.source_active_dim, config.target_active_dim, config.n_anchors,
                                             config.options)

    @property
    def kind(self) -> str:
        """``"vector"`` (one latent per item) or ``"sequence"`` (one per frame, on a shared time grid)."""
        return self.config.kind

    def forward(self, source_latents) -> torch.Tensor:
        """Translate source latents (tensor or array, (n, source_dim)) to target latents (n, target_dim); a
        sequence translator takes sequences (n, frames, source_dim) and gives (n, frames, target_dim)."""
        shape = tuple(getattr(source_latents, "shape", ()))
        if self.kind == "vector":
            if len(shape) == 3:
                raise DimensionError(f"sequences of shape {shape} were passed to a vector translator; it maps one "
                                     f"latent per item (n, {self.config.source.dim}); fix: pool the frames first, or "
                                     f"fit a sequence translator (fit_from_encoders(..., sequence=True))")
            return self.translation(source_latents)
        if len(shape) != 3:
            raise DimensionError(f"latents of shape {shape} were passed to a sequence translator; it maps frame "
                                 f"sequences (n, frames, {self.config.source.dim}); fix: add a batch axis for one "
                                 f"sequence (x[None]), or use a vector translator for one latent per item")
        states = check_sequences(source_latents, "source")
        check_width(states[0], self.config.source.dim, "source")
        return self.translate_frames(states)

    transform = forward

    def translate_frames(self, states: torch.Tensor, *, differentiable: bool = False) -> torch.Tensor:
        """Checked sequences (n, frames, source_dim) -> (n, frames, target_dim), each frame read with its context;
        with `differentiable`, gradients reach the map's tensors (`hubstitch.decoders.tuning` tunes them)."""
        stacked = with_context(states, self.config.context)
        flat = stacked.reshape(-1, stacked.shape[-1])
        out = self.translation.apply_map(flat).to(flat.dtype) if differentiable else self.translation(flat)
        return out.reshape(states.shape[0], states.shape[1], -1)

    def evaluate(self, source_latents, target_latents) -> dict[str, float]:
        """`hubstitch.metrics.evaluate` of the translated `source_latents` against `target_latents`."""
        return evaluate(self(source_latents), target_latents)

    # --- saving -------------------------------------------------------------------------------------------------
    def _save_pretrained(self, save_directory: Path) -> None:
        save_directory = Path(save_directory)
        config = self.config.to_dict()
        (save_directory / CONFIG_NAME).write_text(json.dumps(config, indent=2, sort_keys=True) + "\n")
        tensors = {k: v.detach().contiguous() for k, v in self.state_dict().items()}
        metadata = {
            "format": "pt", "library": "hubstitch", "format_version": str(self.config.format_version),
            "method": self.config.method, "source": self.config.source.model_id or "",
            "target": self.config.target.model_id or "",
        }
        save_file(tensors, str(save_directory / WEIGHTS_NAME), metadata=metadata)

    def generate_model_card(self, *args: Any, **kwargs: Any) -> ModelCard:
        return render_translator_card(self.config, repo_id=kwargs.get("repo_id"))

    # --- loading ------------------------------------------------------------------------------------------------
    @classmethod
    def from_pretrained(cls, pretrained_model_name_or_path: str | Path, *, revision: str | None = None,
                        cache_dir: str | Path | None = None, force_download: bool = False,
                        token: str | bool | None = None, local_files_only: bool = False,
                        **unused: Any) -> Translator:
        """Load from a local folder or a Hub repo id (at `revision`: branch, tag or commit).

        Honours ``HF_HUB_OFFLINE`` and `local_files_only` through huggingface_hub. Refuses newer format versions,
        unknown methods and tensors that disagree with the config, naming the offending key.
        """
        if unused:
            raise TypeError(f"unexpected arguments {sorted(unused)}; Translator.from_pretrained takes revision, "
                            f"cache_dir, force_download, token and local_files_only")
        config_path, weights_path = artifact_files(pretrained_model_name_or_path, revision=revision,
                                                   cache_dir=cache_dir, force_download=force_download, token=token,
                                                   local_files_only=local_files_only, what="translator")
        config = TranslatorConfig.from_dict(read_config(config_path), origin=str(config_path))
        with torch.device("meta"):  # shapes only: nothing is allocated until the file's tensors are checked
            model = cls(config)
        model._load_checked(weights_path)
        model.hub_origin = hub_origin(pretrained_model_name_or_path, config_path)
        return model.eval()

    def _load_checked(self, weights_path: Path) -> None:
        legacy = ("translation.output_center", "translation.output_radius") if self.config.format_version < 2 else ()
        tensors = load_state_checked(self, weights_path, f"method {self.config.method!r}", optional=legacy)
        for side, active in (("source", self.config.source_active_dim), ("target", self.config.target_active_dim)):
            kept = int(tensors[f"translation.{side}_prep.keep"].sum())
            if kept != active:
                raise ArtifactError(
                    f"{weights_path}: {side} keeps {kept} dimensions but the config says {side}_active_dim={active}; "
                    f"fix: re-save the translator, config and weights together"
                )
        finish_loading(self, tensors)
