"""Lay a local checkpoint or dataset folder out as a Hugging Face Hub cache entry, so it resolves by Hub id offline.

``$HF_HUB_CACHE/<type>s--ORG--NAME/refs/main`` holds the commit and ``snapshots/<commit>/`` holds the files (copied),
which is what `huggingface_hub.snapshot_download` finds with ``HF_HUB_OFFLINE=1``.

Example:
    >>> import pathlib, tempfile
    >>> from hubstitch.hub.cache import seed_hub_cache
    >>> src = pathlib.Path(tempfile.mkdtemp()); _ = (src / "config.json").write_text("{}")
    >>> snap = seed_hub_cache(src, "org/model", pathlib.Path(tempfile.mkdtemp()), "a" * 40)
    >>> snap.name == "a" * 40 and (snap / "config.json").is_file()
    True
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from ..errors import HubstitchValueError


def hubstitch_cache_dir() -> Path:
    """hubstitch's own cache folder: ``$HUBSTITCH_CACHE``, else ``~/.cache/hubstitch``."""
    return Path(os.environ.get("HUBSTITCH_CACHE") or Path.home() / ".cache" / "hubstitch")


def seed_hub_cache(folder: str | Path, repo_id: str, cache_dir: str | Path, commit: str,
                   repo_type: str = "model") -> Path:
    """Copy `folder` into `cache_dir` as `repo_id` at `commit` (also pointed to by ``refs/main``)."""
    if len(commit) != 40 or any(c not in "0123456789abcdef" for c in commit):
        raise HubstitchValueError(f"commit {commit!r} is not 40 lowercase hex characters; fix: pass a commit id")
    repo_folder = Path(cache_dir) / f"{repo_type}s--{repo_id.replace('/', '--')}"
    snapshot = repo_folder / "snapshots" / commit
    if snapshot.exists():
        shutil.rmtree(snapshot)
    shutil.copytree(folder, snapshot, ignore=shutil.ignore_patterns(".cache", "__pycache__", "desktop.ini"))
    (repo_folder / "refs").mkdir(parents=True, exist_ok=True)
    (repo_folder / "refs" / "main").write_text(commit)
    return snapshot
