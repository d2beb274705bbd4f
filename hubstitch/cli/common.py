"""What the command groups share: reading latents files, encoder specs, the latent cache, summaries, options.

Example:
    >>> from hubstitch.cli.common import parse_encoder_spec
    >>> parse_encoder_spec("openai/clip-vit-base-patch32@main:image")
    ('openai/clip-vit-base-patch32', 'main', 'image')
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from ..errors import LatentsError

METHOD_CHOICES = ["auto", "orthogonal", "affine", "linear", "relative", "mlp"]


def _parquet_latents(path: str, column: str):
    """One side (``source`` / ``target``) of the latents a Ray fit wrote with ``--latents-out``, in anchor order."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.dataset as ds
    import torch

    if column not in ("source", "target"):
        raise LatentsError(f"{path}:{column}: expected the column 'source' or 'target' of a --latents-out folder; "
                           f"fix: pass {path}:source or {path}:target")
    try:
        table = ds.dataset(path, format="parquet").to_table(columns=["position", column])
    except (pa.ArrowInvalid, OSError, KeyError) as err:
        raise LatentsError(f"{path} is not a --latents-out folder with a {column!r} column ({err}); fix: point at "
                           f"the folder `hubstitch fit --engine ray --latents-out` wrote") from None
    table = table.sort_by("position")
    values = table.column(column).combine_chunks()
    storage = getattr(values, "storage", values)  # Ray's tensor extension type keeps a list array as storage
    rows = storage.to_numpy(zero_copy_only=False) if not pa.types.is_fixed_size_list(storage.type) else None
    matrix = (np.stack(rows) if rows is not None else
              storage.flatten().to_numpy().reshape(len(storage), storage.type.list_size))
    return torch.from_numpy(np.ascontiguousarray(matrix, dtype=np.float32))


def load_latents(spec: str):
    """Read latents from ``file.npy``, ``file.safetensors`` (its only tensor), ``file.safetensors:key``, or
    ``FOLDER:source`` / ``FOLDER:target`` (what ``fit --engine ray --latents-out FOLDER`` wrote); anything
    unreadable (a pickled object array, a broken header, an empty file) is a `LatentsError` naming the file."""
    import numpy as np
    import torch

    path, _, key = spec.partition(":") if spec.count(":") == 1 and not Path(spec).exists() else (spec, "", "")
    if Path(path).is_dir() and key:
        return _parquet_latents(path, key)
    if not Path(path).is_file():
        raise LatentsError(f"latents file {path!r} does not exist; expected a .npy or .safetensors file; "
                           f"fix: check the path")
    if path.endswith(".npy"):
        try:
            array = np.load(path, allow_pickle=False)
        except ValueError as err:
            what = "holds pickled Python objects" if "allow_pickle" in str(err) else f"is not a readable .npy ({err})"
            raise LatentsError(f"{path} {what}; expected a numeric array (hubstitch never unpickles); fix: save it "
                               f"with numpy.save(path, latents.astype('float32'))") from None
        except (OSError, EOFError) as err:
            raise LatentsError(f"{path} is not a readable .npy file ({err}); fix: save it with numpy.save") from None
        if not isinstance(array, np.ndarray) or array.dtype.kind not in "fiub":
            raise LatentsError(f"{path} holds a {getattr(array, 'dtype', type(array).__name__)} array; expected "
                               f"floats; fix: save the latents as float32")
        return torch.from_numpy(np.ascontiguousarray(array))
    if path.endswith(".safetensors"):
        from safetensors.torch import load_file

        try:
            tensors = load_file(path)
        except Exception as err:  # noqa: BLE001 - safetensors raises several kinds for a broken file
            raise LatentsError(f"{path} is not a readable safetensors file ({type(err).__name__}: {err}); fix: "
                               f"write it with safetensors.torch.save_file") from None
        if not tensors:
            raise LatentsError(f"{path} holds no tensor; expected one; fix: save the latents into it")
        if not key and len(tensors) != 1:
            raise LatentsError(f"{path} holds tensors {sorted(tensors)}; expected one, or a key; "
                               f"fix: pass {path}:{sorted(tensors)[0]}")
        if key and key not in tensors:
            raise LatentsError(f"{path} has no tensor {key!r}; it holds {sorted(tensors)}; fix: pick one of those")
        return tensors[key] if key else next(iter(tensors.values()))
    raise LatentsError(f"latents file {path!r} has an unknown extension; expected .npy or .safetensors; "
                       f"fix: save with numpy.save or safetensors.torch.save_file")


def emit_translator_summary(summary: dict[str, Any], fmt: str) -> None:
    if fmt == "json":
        sys.stdout.write(json.dumps(summary, indent=2, sort_keys=True, default=str) + "\n")
        return
    lines = [f"translator: {summary['out']}", f"method: {summary['method']}",
             *[f"{side}: {summary[side]['model_id']} @ {summary[side]['revision']}" for side in ("source", "target")
               if side in summary],
             f"anchors: {summary['n_anchors']}  held-out: {summary.get('n_heldout') or 0}"]
    sentences = (summary.get("anchors") or {}).get("sentences")
    if sentences:
        lines[-1] += (f"  (the anchor texts and their sentences of {sentences}+ words; --no-anchor-sentences: "
                      f"texts only)")
    for name, value in (summary.get("heldout") or {}).items():
        lines.append(f"  {name:<11}{value:.4f}")
    refinement, wer = summary.get("refinement"), summary.get("heldout_wer")
    if refinement:
        lines.append(f"tuned by {refinement['decoder']['model_id']}'s decoder loss on the anchors' "
                     f"{'transcripts' if refinement['transcripts'] == 'given' else 'transcription by that model'}: "
                     f"loss per epoch {refinement['loss_per_epoch']}")
    if wer:
        lines.append(f"held-out WER on {wer['clips']} clips (against their {wer['against']}): stitched "
                     f"{wer['stitched']:.3f}, before tuning {wer['untuned']:.3f}"
                     + (f", the decoder's checkpoint natively {wer['target_native']:.3f}" if "target_native" in wer
                        else ""))
    if "reload_identical" in summary:
        lines.append(f"reload reproduces outputs bit for bit: {summary['reload_identical']}")
    sys.stdout.write("\n".join(lines) + "\n")


def parse_encoder_spec(spec: str) -> tuple[str, str | None, str | None]:
    """``"org/name@revision:modality"`` -> (id, revision, modality); a local folder is taken as it is."""
    if Path(spec).exists():
        return spec, None, None
    modality = None
    head, sep, tail = spec.rpartition(":")
    if sep and tail in ("text", "image", "audio"):
        spec, modality = head, tail
    name, _, revision = spec.partition("@")
    return name, revision or None, modality


def load_encoder(spec: str, pooling: str | None, layer: int, args: argparse.Namespace):
    from ..encoders.encoder import Encoder

    name, revision, modality = parse_encoder_spec(spec)
    return Encoder.from_pretrained(name, revision=revision, modality=modality, pooling=pooling, layer=layer,
                                   trust_remote_code=args.trust_remote_code)


def encoder_for_space(space, spec: str | None, trust_remote_code: bool = False):
    """The encoder of a recorded `space` (a translator's source or target): `spec` (a Hub id or folder, with
    ``@revision`` / ``:modality``) if given, else the space's own model id at its pinned revision; the pooling and
    layer always come from the space."""
    from ..encoders.encoder import Encoder
    from ..errors import HubstitchValueError

    if spec is None and not space.model_id:
        raise HubstitchValueError("the translator does not name the encoder it was fitted on; fix: pass the encoder")
    name, revision, modality = parse_encoder_spec(spec or space.model_id)
    local = Path(name).exists()
    return Encoder.from_pretrained(name, revision=revision or (None if local else space.revision),
                                   modality=modality or space.modality, pooling=space.pooling,
                                   layer=space.layer if space.layer is not None else -1,
                                   trust_remote_code=trust_remote_code)


def latent_cache(args: argparse.Namespace):
    from ..data.latent_cache import LatentCache

    return None if args.no_cache else LatentCache(args.cache_dir)


def add_common_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--batch-size", type=positive_int, default=32, help="items per forward pass")
    parser.add_argument("--cache-dir", default=None, help="latent cache folder (default $HUBSTITCH_CACHE or "
                                                           "~/.cache/hubstitch)")
    parser.add_argument("--no-cache", action="store_true", help="encode without reading or writing the cache")
    parser.add_argument("--trust-remote-code", action="store_true", help="allow checkpoints' own code (unsafe)")
    add_format(parser)


def add_format(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--format", choices=["text", "json"], default="text", help="output for people or programs")


def positive_int(value: str) -> int:
    """An argparse type: an integer of at least 1."""
    try:
        number = int(value)
    except ValueError:
        number = 0
    if number < 1:
        raise argparse.ArgumentTypeError(f"{value!r} is not a whole number of at least 1")
    return number


def _finite_or_none(value: str) -> float | None:
    """`value` as a finite, non-negative float, or None."""
    import math

    try:
        number = float(value)
    except ValueError:
        return None
    return number if math.isfinite(number) and number >= 0 else None


def fraction(value: str) -> float:
    """An argparse type: a finite number in [0, 1), or a count of 1 or more (held-out pairs)."""
    number = _finite_or_none(value)
    if number is None or (number >= 1 and number != int(number)):
        raise argparse.ArgumentTypeError(f"{value!r} is neither a fraction in [0, 1) nor a whole count")
    return number


def finite_float(value: str) -> float:
    """An argparse type: a finite, non-negative number (a ridge alpha)."""
    number = _finite_or_none(value)
    if number is None:
        raise argparse.ArgumentTypeError(f"{value!r} is not a finite number of at least 0")
    return number


def add_engine_options(parser: argparse.ArgumentParser, what: str) -> None:
    """``--engine local|ray`` and the Ray cluster's address and width (`hubstitch.engines`)."""
    group = parser.add_argument_group("scaling out (pip install 'hubstitch[ray]')")
    group.add_argument("--engine", choices=["local", "ray"], default="local",
                       help=f"where {what} runs: this process, or a Ray cluster")
    group.add_argument("--ray-address", default=None, metavar="ADDR",
                       help="the cluster to join (auto, ray://host:10001); default: start a local one")
    group.add_argument("--num-workers", type=positive_int, default=2, help="Ray workers (actors or tasks at a time)")
    group.add_argument("--gpus-per-worker", type=finite_float, default=0.0,
                       help="GPUs each worker holds (0.5 puts two on one GPU)")
    group.add_argument("--cpus-per-worker", type=finite_float, default=1.0, help="CPUs each worker holds")


def ray_settings(args: argparse.Namespace, batch_size: int = 32):
    """The `RaySettings` of `add_engine_options`' flags, or None for ``--engine local``; Ray flags given without
    ``--engine ray`` are refused rather than ignored."""
    from ..engines.ray_cluster import RaySettings
    from ..errors import HubstitchValueError

    if args.engine != "ray":
        given = [flag for flag, value, default in (("--ray-address", args.ray_address, None),
                                                   ("--num-workers", args.num_workers, 2),
                                                   ("--gpus-per-worker", args.gpus_per_worker, 0.0),
                                                   ("--cpus-per-worker", args.cpus_per_worker, 1.0))
                 if value != default]
        if given:
            raise HubstitchValueError(f"{', '.join(given)} given with --engine {args.engine}; they set up a Ray run; "
                                      f"fix: add --engine ray, or drop them")
        return None
    return RaySettings(address=args.ray_address, num_workers=args.num_workers, gpus_per_worker=args.gpus_per_worker,
                       cpus_per_worker=args.cpus_per_worker, batch_size=batch_size)
