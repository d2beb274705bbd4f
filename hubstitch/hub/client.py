"""Talking to the Hub: bounded transfers, one-commit uploads, and failures that say what is known.

- Timeouts: huggingface_hub's shared HTTP client has none by default, so a hung server would hang a push or a
  download forever. `ensure_timeouts` installs (through huggingface_hub's own `set_client_factory`, and only where
  no other factory was set) a client whose connect / read / write timeouts are ``$HUBSTITCH_HUB_TIMEOUT`` seconds
  (default 120): a bound on how long any request may stall, not on a whole large download.
- Uploads are one commit (`upload_folder`). When one fails, the error says what happened: refused for
  authentication or permission (`HubAuthError`, also an `HfHubHTTPError`), failed before the commit (nothing was
  committed), or cut off during the commit request, in which case the branch head is read again and the error
  says whether the commit landed, or that the outcome is unknown and how to check before retrying.

Example:
    >>> from hubstitch.hub.client import ensure_timeouts, timeout_seconds
    >>> ensure_timeouts() is None and timeout_seconds() > 0
    True
"""

from __future__ import annotations

import logging
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx2
from huggingface_hub import CommitInfo, HfApi
from huggingface_hub.errors import HfHubHTTPError
from huggingface_hub.utils import _http

from ..errors import HubstitchError
from .offline_pins import check_push

logger = logging.getLogger(__name__)
_INSTALLED: dict[str, Any] = {"timeout": None, "factory": None}


class HubTransferError(HubstitchError, OSError):
    """An upload or download that failed; the message says whether anything was committed."""


class HubAuthError(HubstitchError, HfHubHTTPError):
    """The Hub refused a request for authentication (401) or permission (403)."""

    def __init__(self, message: str, response=None) -> None:
        HfHubHTTPError.__init__(self, message, response=response)


def timeout_seconds() -> float:
    raw = os.environ.get("HUBSTITCH_HUB_TIMEOUT", "120")
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if not value > 0:
        raise HubTransferError(f"HUBSTITCH_HUB_TIMEOUT={raw!r}; expected a positive number of seconds; fix: unset it "
                               f"or set e.g. 120")
    return value


def ensure_timeouts() -> None:
    """Give huggingface_hub's client request timeouts, unless someone else chose its client factory; and, when
    ``$HUBSTITCH_HUB_TIMEOUT`` is set (and huggingface_hub's own download timeouts are not), use it for downloads
    too (huggingface_hub passes its own 10-second timeout to each download request)."""
    seconds = timeout_seconds()
    if "HUBSTITCH_HUB_TIMEOUT" in os.environ:
        from huggingface_hub import constants

        if "HF_HUB_DOWNLOAD_TIMEOUT" not in os.environ:
            constants.HF_HUB_DOWNLOAD_TIMEOUT = seconds
        if "HF_HUB_ETAG_TIMEOUT" not in os.environ:
            constants.HF_HUB_ETAG_TIMEOUT = seconds
    factory = _http._GLOBAL_CLIENT_FACTORY
    if factory is not _http.default_client_factory and factory is not _INSTALLED["factory"]:
        return  # the application configured its own client: leave it alone
    if _INSTALLED["factory"] is not None and factory is _INSTALLED["factory"] and _INSTALLED["timeout"] == seconds:
        return

    def bounded_client() -> httpx2.Client:
        client = _http.default_client_factory()
        client.timeout = httpx2.Timeout(seconds, connect=min(seconds, 30.0))
        return client

    _http.set_client_factory(bounded_client)
    _INSTALLED.update(timeout=seconds, factory=bounded_client)


@contextmanager
def hub_timeout(seconds: float | None = None) -> Iterator[None]:
    """Run the block with request timeouts in place (`seconds` overrides ``$HUBSTITCH_HUB_TIMEOUT`` for it)."""
    previous = os.environ.get("HUBSTITCH_HUB_TIMEOUT")
    if seconds is not None:
        os.environ["HUBSTITCH_HUB_TIMEOUT"] = str(seconds)
    try:
        ensure_timeouts()
        yield
    finally:
        if seconds is not None:
            if previous is None:
                os.environ.pop("HUBSTITCH_HUB_TIMEOUT", None)
            else:
                os.environ["HUBSTITCH_HUB_TIMEOUT"] = previous


def _auth_error(err: HfHubHTTPError, repo_id: str) -> HubAuthError | None:
    status = getattr(getattr(err, "response", None), "status_code", None)
    if status not in (401, 403):
        return None
    why = ("you are not logged in, or the token is invalid" if status == 401
           else "the token may not write to this repo or namespace")
    return HubAuthError(f"the Hub refused the upload to {repo_id} ({status}: {why}); nothing was committed; fix: "
                        f"`hf auth login` with a token that has write access to {repo_id.split('/')[0]!r}, or push "
                        f"to a namespace you own", response=err.response)


def _head(api: HfApi, repo_id: str, branch: str | None) -> str | None:
    try:
        return api.repo_info(repo_id, revision=branch).sha
    except Exception:  # noqa: BLE001 - a repo or branch that does not exist yet has no head
        return None


def upload_folder(folder: str | Path, repo_id: str, *, private: bool | None = None, branch: str | None = None,
                  create_pr: bool = False, token: str | bool | None = None,
                  commit_message: str = "Upload with hubstitch", commit_description: str | None = None,
                  allow_patterns: list[str] | str | None = None, ignore_patterns: list[str] | str | None = None,
                  delete_patterns: list[str] | str | None = None, what: str | None = None,
                  allow_offline_pins: bool = False) -> CommitInfo:
    """Create the repo (and branch) if needed and upload `folder` in one commit; returns the `CommitInfo`.

    `what` names the upload in errors instead of `folder` (a temporary folder means nothing to the caller). An
    artifact pinning checkpoints that exist only on this machine is refused unless `allow_offline_pins`
    (`hubstitch.hub.offline_pins`).
    """
    check_push(folder, allow_offline_pins)
    ensure_timeouts()
    api = HfApi(token=token)
    what = what or str(folder)
    stage = "before the commit"
    head = None
    try:
        repo_id = api.create_repo(repo_id, private=private, exist_ok=True).repo_id
        if branch:
            api.create_branch(repo_id, branch=branch, exist_ok=True)
        head = None if create_pr else _head(api, repo_id, branch)
        stage = "during the upload"
        info = api.upload_folder(repo_id=repo_id, folder_path=str(folder), revision=branch, create_pr=create_pr,
                                 commit_message=commit_message, commit_description=commit_description,
                                 allow_patterns=allow_patterns, ignore_patterns=ignore_patterns,
                                 delete_patterns=delete_patterns, parent_commit=head)
    except HubstitchError:
        raise
    except HfHubHTTPError as err:
        raise (_auth_error(err, repo_id) or _transfer_error(api, repo_id, branch, head, what, stage, err)) from err
    except (httpx2.HTTPError, OSError, RuntimeError) as err:
        raise _transfer_error(api, repo_id, branch, head, what, stage, err) from err
    logger.info("uploaded %s to %s at commit %s (pin it with revision=%r)", what, repo_id, info.oid, info.oid)
    return info


def _request_url(err: BaseException) -> str:
    for holder in (err, getattr(err, "response", None), err.__cause__, err.__context__):
        try:
            request = getattr(holder, "request", None)
            if request is not None:
                return str(request.url)
        except RuntimeError:  # httpx raises when an error carries no request
            continue
    return ""


def _transfer_error(api: HfApi, repo_id: str, branch: str | None, head: str | None, what: str, stage: str,
                    err: BaseException) -> HubTransferError:
    """What is known after a failed upload: nothing committed, committed after all, or unknown."""
    cause = f"{type(err).__name__}: {str(err).splitlines()[0] if str(err) else 'no message'}"
    where = f"{repo_id}@{branch or 'main'}"
    answered = isinstance(err, HfHubHTTPError) and getattr(err, "response", None) is not None
    in_commit = "/commit/" in _request_url(err)
    if stage == "during the upload" and in_commit and not answered:
        now = _head(api, repo_id, branch)
        if head is not None and now is not None and now != head:
            return HubTransferError(
                f"uploading {what} to {where} reported a failure ({cause}), but the branch head moved from {head} "
                f"to {now}: the commit landed; fix: pin {now}, and do not upload it again")
        return HubTransferError(
            f"uploading {what} to {where}: the connection failed during the commit request ({cause}), so whether "
            f"the commit landed is unknown (the Hub may still finish it); the branch head was {head or '(none)'} "
            f"before; fix: check the branch head (`hubstitch info {repo_id}`) and upload again only if it has not "
            f"moved")
    return HubTransferError(f"uploading {what} to {where} failed {stage} ({cause}); no commit was made; fix: check "
                            f"the connection (or $HUBSTITCH_HUB_TIMEOUT) and run the same upload again")


@contextmanager
def hub_hint(what: str, repo_id: str, revision: str | None) -> Iterator[None]:
    """Bound the transfer in time, and re-raise huggingface_hub's errors as they are with a note saying what
    hubstitch was loading; a dropped or timed-out download becomes a `HubTransferError`."""
    from huggingface_hub.errors import EntryNotFoundError, RepositoryNotFoundError, RevisionNotFoundError

    ensure_timeouts()
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
    except httpx2.HTTPError as err:
        raise HubTransferError(f"downloading the {what} {repo_id!r} failed ({type(err).__name__}: {err}); nothing "
                               f"was cached half-way; fix: check the connection (or $HUBSTITCH_HUB_TIMEOUT) and try "
                               f"again") from err


class OneCommitPush:
    """Save and push for hubstitch artifacts built on `PyTorchModelHubMixin`: the card is written on every save,
    and a push is one commit through `upload_folder` (timeouts, truthful errors), returning its `CommitInfo`."""

    def save_pretrained(self, save_directory: str | Path, *, config: Any = None, repo_id: str | None = None,
                        push_to_hub: bool = False, model_card_kwargs: dict[str, Any] | None = None,
                        **push_to_hub_kwargs: Any) -> CommitInfo | None:
        """Write the artifact (config, safetensors, card: a re-save replaces an older card); with `push_to_hub`,
        also push it to `repo_id` (or the folder's name) and return the `CommitInfo`."""
        save_directory = Path(save_directory)
        save_directory.mkdir(parents=True, exist_ok=True)
        self._save_pretrained(save_directory)
        self.generate_model_card(**(model_card_kwargs or {})).save(save_directory / "README.md")
        if push_to_hub:
            return self.push_to_hub(repo_id or save_directory.name, config=config,
                                    model_card_kwargs=model_card_kwargs, **push_to_hub_kwargs)
        return None

    def push_to_hub(self, repo_id: str, *, config: Any = None, commit_message: str | None = None,
                    commit_description: str | None = None, private: bool | None = None,
                    token: str | bool | None = None, branch: str | None = None, revision: str | None = None,
                    create_pr: bool = False, allow_patterns: list[str] | str | None = None,
                    ignore_patterns: list[str] | str | None = None, delete_patterns: list[str] | str | None = None,
                    model_card_kwargs: dict[str, Any] | None = None, allow_offline_pins: bool = False) -> CommitInfo:
        """Upload in one commit; returns the `CommitInfo` (``.oid`` is the SHA to pin). `revision` is the branch
        (as in transformers); `config` is accepted for the mixin's sake: the artifact's own config is what is
        saved."""
        with tempfile.TemporaryDirectory() as tmp:
            self.save_pretrained(tmp, model_card_kwargs={**(model_card_kwargs or {}), "repo_id": repo_id})
            return upload_folder(tmp, repo_id, private=private, branch=branch or revision, create_pr=create_pr,
                                 token=token, commit_message=commit_message or f"Upload {type(self).__name__} with "
                                                                              f"hubstitch",
                                 commit_description=commit_description, allow_patterns=allow_patterns,
                                 ignore_patterns=ignore_patterns, delete_patterns=delete_patterns,
                                 what=f"the {type(self).__name__}", allow_offline_pins=allow_offline_pins)
