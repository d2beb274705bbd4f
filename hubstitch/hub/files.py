"""Resolve a checkpoint or dataset (Hub id or local folder) to local files and a pinned identity.

Hub ids go through `huggingface_hub.snapshot_download`, which honours ``HF_HUB_OFFLINE`` and `local_files_only`
with no hidden network call; the snapshot folder's name is the 40-hex commit the revision resolved to. Local
folders are identified by a content hash instead, and are never written into a card as a Hub id.

Example:
    >>> import tempfile, pathlib
    >>> from hubstitch.hub.files import resolve
    >>> folder = tempfile.mkdtemp(); _ = (pathlib.Path(folder) / "config.json").write_text("{}")
    >>> resolved = resolve(folder)
    >>> resolved.is_local, resolved.revision.startswith("sha256:")
    (True, True)
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path

from huggingface_hub import snapshot_download

from ..errors import HubstitchValueError

_COMMIT = re.compile(r"^[0-9a-f]{40}$")
# Never fetch pickled weights or code: safetensors, configs, tokenizer and processor files only.
MODEL_PATTERNS = ["*.json", "*.safetensors", "*.txt", "*.model", "*.tiktoken", "README.md"]  # the card: license


@dataclass(frozen=True)
class ResolvedRepo:
    """A checkpoint or dataset on disk: where it is, what it was called, and its pinned revision."""

    folder: Path
    name: str
    revision: str
    is_local: bool


CHECKPOINT_FILES = [*MODEL_PATTERNS, "*.py"]  # what a local checkpoint's revision is hashed over


def content_hash(folder: Path, patterns: list[str] | None = None) -> str:
    """sha256 over the relative paths and bytes of the files under `folder` (sorted), as ``sha256:<hex>``: every
    file, or only those whose name matches one of `patterns`. A single file hashes its bytes alone."""
    digest = hashlib.sha256()
    if folder.is_file():
        with folder.open("rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
        return "sha256:" + digest.hexdigest()
    files = (p for p in folder.rglob("*") if p.is_file() and ".cache" not in p.relative_to(folder).parts
             and (patterns is None or any(p.match(pattern) for pattern in patterns)))
    for path in sorted(files):
        digest.update(str(path.relative_to(folder)).encode() + b"\0")
        with path.open("rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
    return "sha256:" + digest.hexdigest()


def split_revision(spec: str) -> tuple[str, str | None]:
    """``"org/name@rev"`` -> (``"org/name"``, ``"rev"``); a spec without ``@`` has no revision."""
    name, sep, revision = spec.partition("@")
    return (name, revision or None) if sep and not Path(spec).exists() else (spec, None)


def resolve(spec: str | Path, *, revision: str | None = None, repo_type: str = "model",
            local_files_only: bool | None = None, allow_patterns: list[str] | None = None,
            cache_dir: str | Path | None = None) -> ResolvedRepo:
    """Local folder -> its content hash; Hub id -> the snapshot folder at `revision`, pinned to its commit."""
    spec = str(spec)
    path = Path(spec).expanduser()
    if path.is_dir():
        if revision is not None:
            raise HubstitchValueError(
                f"revision {revision!r} was given for the local folder {spec!r}; expected a revision only with a "
                f"Hub id; fix: drop the revision, or check out that revision into the folder"
            )
        if repo_type == "model":  # a checkpoint: refuse a folder that is none before hashing it (say, /usr)
            if not ((path / "config.json").is_file() or (path / "modules.json").is_file()):
                raise HubstitchValueError(
                    f"{spec!r} is a folder without config.json or modules.json; expected a checkpoint folder (or a "
                    f"Hub id); fix: point at the folder that holds the model's config.json")
            return ResolvedRepo(path.resolve(), str(path.resolve()), content_hash(path, CHECKPOINT_FILES), True)
        return ResolvedRepo(path.resolve(), str(path.resolve()), content_hash(path), True)
    if path.exists():
        raise HubstitchValueError(f"{spec!r} is a file; expected a Hub id or a folder; fix: pass its folder")
    from huggingface_hub.errors import LocalEntryNotFoundError

    from .client import hub_hint

    if revision and _COMMIT.match(revision) and not local_files_only:
        try:  # a commit never changes: a cached snapshot of it needs no network call
            folder = Path(snapshot_download(repo_id=spec, repo_type=repo_type, revision=revision,
                                            local_files_only=True, cache_dir=cache_dir))
            return ResolvedRepo(folder, spec, revision, False)
        except LocalEntryNotFoundError:
            pass
    with hub_hint("checkpoint" if repo_type == "model" else repo_type, spec, revision, repo_type):
        folder = Path(snapshot_download(
            repo_id=spec, repo_type=repo_type, revision=revision, local_files_only=bool(local_files_only),
            allow_patterns=MODEL_PATTERNS if repo_type == "model" and allow_patterns is None else allow_patterns,
            cache_dir=cache_dir,
        ))
    commit = folder.name
    if not _COMMIT.match(commit):
        raise HubstitchValueError(
            f"{spec!r} at revision {revision!r} resolved to {folder}, not a commit snapshot; expected "
            f"snapshots/<40-hex commit>; fix: check the Hub cache layout (refs/main holds the commit)"
        )
    return ResolvedRepo(folder, spec, commit, False)
