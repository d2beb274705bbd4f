"""Reading hubstitch artifacts safely: config.json + model.safetensors from a folder or a Hub repo, never pickle.

Example:
    >>> from hubstitch.hub.artifact_io import artifact_files
    >>> artifact_files("/no/such/folder-or-repo", local_files_only=True)  # doctest: +IGNORE_EXCEPTION_DETAIL
    Traceback (most recent call last):
    huggingface_hub.errors.HFValidationError: ...
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import torch
from huggingface_hub import hf_hub_download
from safetensors import safe_open
from torch import nn

from ..errors import ArtifactError

CONFIG_NAME = "config.json"
WEIGHTS_NAME = "model.safetensors"


def artifact_files(source: str | Path, *, revision: str | None = None, cache_dir: str | Path | None = None,
                   force_download: bool = False, token: str | bool | None = None,
                   local_files_only: bool = False, what: str = "artifact") -> tuple[Path, Path]:
    """Paths of (config.json, model.safetensors) in a local folder, or downloaded from a Hub repo at `revision`."""
    source = str(source)
    if os.path.isdir(source):
        paths = Path(source) / CONFIG_NAME, Path(source) / WEIGHTS_NAME
        for path in paths:
            if not path.is_file():
                raise ArtifactError(f"{path} is missing; expected {CONFIG_NAME} and {WEIGHTS_NAME} in {source}; "
                                    f"fix: save the artifact with save_pretrained")
            inside(path, Path(source))
        return paths
    kwargs = dict(repo_id=source, revision=revision, cache_dir=cache_dir, force_download=force_download,
                  token=token, local_files_only=local_files_only)
    from .client import hub_hint

    with hub_hint(what, source, revision):
        config = Path(hf_hub_download(filename=CONFIG_NAME, **kwargs))
        return config, Path(hf_hub_download(filename=WEIGHTS_NAME, **kwargs))


def inside(path: Path, folder: Path) -> Path:
    """`path` with links resolved, refused unless it stays inside `folder` (a symlink must not read elsewhere).

    A folder inside a Hub cache snapshot may link into that repo's own ``blobs/`` (huggingface_hub's layout)."""
    real, root = path.resolve(), folder.resolve()
    for parent in folder.absolute().parents:
        if parent.name == "snapshots" and parent.parent.name.split("--")[0] in ("models", "datasets", "spaces"):
            root = parent.parent.resolve()
            break
    if not real.is_relative_to(root):
        raise ArtifactError(f"{path} leads outside its artifact folder {folder} (to {real}); expected the artifact's "
                            f"own files; fix: copy the files in instead of linking to them")
    return real


def hub_origin(source: str | Path, config_path: Path) -> tuple[str, str] | None:
    """(repo id, commit) when `config_path` came from a Hub snapshot of `source`; None for a local folder."""
    if os.path.isdir(str(source)):
        return None
    commit = config_path.parent.name
    return (str(source), commit) if len(commit) == 40 else None


def check_header(data: dict[str, Any], artifact: str, max_version: int, origin: str, description: str,
                 saved_by: str) -> None:
    """Refuse a config that is not `artifact`, or whose format_version is not an int up to `max_version`."""
    if data.get("artifact") != artifact:
        raise ArtifactError(f"{origin} is not a {description} (artifact={data.get('artifact')!r}); "
                            f"fix: point at a repo saved by {saved_by}")
    version = data.get("format_version")
    if isinstance(version, bool) or not isinstance(version, int) or not 1 <= version <= max_version:
        raise ArtifactError(f"{origin} has format_version {version!r}; this hubstitch reads up to "
                            f"{max_version}; fix: pip install --upgrade hubstitch")


MAX_CONFIG_BYTES = 16 * 1024 * 1024


def read_config(path: Path) -> dict[str, Any]:
    """A config's JSON, refusing anything that is not readable, not UTF-8, not JSON or implausibly large."""
    if not path.is_file():
        raise ArtifactError(f"{path} does not exist; expected a config.json written by save_pretrained; fix: check "
                            f"the folder (a stage's subfolder, or the artifact itself)")
    try:
        if path.stat().st_size > MAX_CONFIG_BYTES:
            raise ArtifactError(f"{path} is {path.stat().st_size:,} bytes; a config is far smaller; fix: re-save it")
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError, UnicodeDecodeError, RecursionError) as err:
        raise ArtifactError(f"{path} is not valid JSON ({type(err).__name__}: {err})"[:300] + "; fix: re-save the "
                            "artifact") from None


def load_state_checked(module: nn.Module, weights_path: Path, what: str,
                       optional: tuple[str, ...] = ()) -> dict[str, torch.Tensor]:
    """Load `weights_path` into `module` only if its keys, shapes and kinds of dtype are exactly the module's.

    Keys in `optional` (tensors an older format version did not write) may be missing: they are zeros. Shapes are
    compared on the file's header before any tensor is read (so build `module` on the ``meta`` device: a config
    claiming huge widths allocates nothing), and floating tensors must be finite. Returns the tensors (with the
    file's dtypes kept: bit-for-bit reproduction).
    """
    expected = module.state_dict()
    try:
        handle_context = safe_open(str(weights_path), framework="pt")
        with handle_context as handle:
            found = set(handle.keys())
            if found != set(expected) - (set(optional) - found):
                raise ArtifactError(
                    f"{weights_path} does not match its config ({what}): missing keys "
                    f"{sorted(set(expected) - found)}, unexpected keys {sorted(found - set(expected))}; "
                    f"fix: re-save the artifact, config and weights together"
                )
            for name in sorted(found):
                shape = tuple(handle.get_slice(name).get_shape())
                if shape != tuple(expected[name].shape):
                    raise ArtifactError(
                        f"{weights_path}: tensor {name!r} has shape {shape}; the config implies "
                        f"{tuple(expected[name].shape)}; fix: re-save the artifact, config and weights together")
            tensors = {name: handle.get_tensor(name) for name in sorted(found)}
    except ArtifactError:
        raise
    except Exception as err:  # noqa: BLE001 - safetensors raises several kinds for a damaged file
        raise ArtifactError(f"{weights_path} is not a readable safetensors file ({type(err).__name__}: {err}); "
                            f"fix: re-save the artifact") from None
    tensors.update({name: torch.zeros(expected[name].shape, dtype=expected[name].dtype, device="cpu")
                    for name in optional if name not in tensors})
    for name, tensor in tensors.items():
        want = expected[name]
        if tensor.dtype.is_floating_point != want.dtype.is_floating_point:
            raise ArtifactError(
                f"{weights_path}: tensor {name!r} has dtype {tensor.dtype}; the config implies a {want.dtype} "
                f"tensor; fix: re-save the artifact, config and weights together")
        if tensor.is_floating_point() and not bool(torch.isfinite(tensor).all()):
            raise ArtifactError(f"{weights_path}: tensor {name!r} holds NaN or infinite values; a translator or head "
                                f"with them would output garbage; fix: re-fit and re-save it")
    return tensors


def finish_loading(module: nn.Module, tensors: dict[str, torch.Tensor]) -> None:
    module.load_state_dict(tensors, strict=True, assign=True)
    for parameter in module.parameters():
        parameter.requires_grad_(False)
    module.eval()
