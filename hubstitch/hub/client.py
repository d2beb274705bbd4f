"""Talking to the Hub for uploads: one commit, a timeout, and failures that say nothing was committed.

huggingface_hub's shared HTTP client has no timeout by default, so a hung server would hang a push forever;
uploads here run with ``$HUBSTITCH_HUB_TIMEOUT`` seconds (default 120) per request. A push is one commit: when it
fails (HTTP error, timeout, dropped connection) nothing is committed, the local folder is untouched, and running
the same command again is the fix.

Example:
    >>> from hubstitch.hub.client import hub_timeout
    >>> with hub_timeout(5.0):
    ...     pass
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx2
from huggingface_hub import CommitInfo, HfApi
from huggingface_hub.utils import get_session

from ..errors import HubstitchError

logger = logging.getLogger(__name__)


class HubTransferError(HubstitchError, OSError):
    """An upload that failed before its commit landed."""


@contextmanager
def hub_timeout(seconds: float | None = None) -> Iterator[None]:
    """Give huggingface_hub's shared client a per-request timeout for the duration of the block."""
    seconds = seconds or float(os.environ.get("HUBSTITCH_HUB_TIMEOUT", "120"))
    client = get_session()
    previous = client.timeout
    client.timeout = httpx2.Timeout(seconds)
    try:
        yield
    finally:
        client.timeout = previous


def upload_folder(folder: str | Path, repo_id: str, *, private: bool | None = None, branch: str | None = None,
                  create_pr: bool = False, token: str | bool | None = None,
                  commit_message: str = "Upload with hubstitch") -> CommitInfo:
    """Create the repo (and branch) if needed and upload `folder` in one commit; returns the commit info."""
    api = HfApi(token=token)
    try:
        with hub_timeout():
            repo_id = api.create_repo(repo_id, private=private, exist_ok=True).repo_id
            if branch:
                api.create_branch(repo_id, branch=branch, exist_ok=True)
            info = api.upload_folder(repo_id=repo_id, folder_path=str(folder), revision=branch, create_pr=create_pr,
                                     commit_message=commit_message)
    except (httpx2.HTTPError, OSError) as err:
        if isinstance(err, HubstitchError):
            raise
        raise HubTransferError(
            f"uploading {folder} to {repo_id} failed ({type(err).__name__}: {err}); no commit was made and {folder} "
            f"is intact; fix: check the connection (or $HUBSTITCH_HUB_TIMEOUT) and run the same upload again"
        ) from err
    logger.warning("uploaded %s to %s at commit %s (pin it with revision=%r)", folder, repo_id, info.oid, info.oid)
    return info


def push_artifact(artifact, repo_id: str, *, commit_message: str, private: bool | None = None,
                  token: str | bool | None = None, branch: str | None = None, create_pr: bool = False) -> CommitInfo:
    """`save_pretrained` into a temporary folder (the card names `repo_id`), then `upload_folder` it."""
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        artifact.save_pretrained(tmp, model_card_kwargs={"repo_id": repo_id})
        return upload_folder(tmp, repo_id, private=private, branch=branch, create_pr=create_pr, token=token,
                             commit_message=commit_message)


@contextmanager
def hub_hint(what: str, repo_id: str, revision: str | None) -> Iterator[None]:
    """Re-raise huggingface_hub's not-found errors as they are, with a note saying what hubstitch was loading."""
    from huggingface_hub.errors import EntryNotFoundError, RepositoryNotFoundError, RevisionNotFoundError

    try:
        yield
    except RevisionNotFoundError as err:
        err.add_note(f"hubstitch: loading the {what} {repo_id!r}: revision {revision!r} does not exist there; "
                     f"fix: check the branch, tag or commit (`hubstitch info {repo_id}` lists the stages and pins)")
        raise
    except RepositoryNotFoundError as err:
        err.add_note(f"hubstitch: loading the {what} {repo_id!r}: no such repo, or it is private; fix: check the "
                     f"id, or log in with `hf auth login` for a private repo")
        raise
    except EntryNotFoundError as err:
        err.add_note(f"hubstitch: {repo_id!r} at {revision or 'main'} lacks a file a hubstitch {what} needs; fix: "
                     f"check that the repo holds a hubstitch {what} saved with save_pretrained")
        raise


class OneCommitPush:
    """``push_to_hub`` for hubstitch artifacts: `push_artifact` (one commit, a timeout) in place of the mixin's own."""

    def push_to_hub(self, repo_id: str, *, commit_message: str | None = None, private: bool | None = None,
                    token: str | bool | None = None, branch: str | None = None, create_pr: bool = False,
                    **unused) -> CommitInfo:
        """Upload in one commit (with a request timeout); returns the `CommitInfo` (``.oid`` is the SHA to pin)."""
        if unused:
            raise TypeError(f"unexpected arguments {sorted(unused)}; push_to_hub takes commit_message, private, "
                            f"token, branch and create_pr")
        message = commit_message or f"Upload {type(self).__name__} with hubstitch"
        return push_artifact(self, repo_id, commit_message=message, private=private, token=token, branch=branch,
                             create_pr=create_pr)
