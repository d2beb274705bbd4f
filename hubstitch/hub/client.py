"""Talking to the Hub: bounded transfers, one-commit uploads, and failures that say what is known.

- Timeouts: huggingface_hub's shared HTTP client has none by default, so a hung server would hang a push or a
  download forever. `ensure_timeouts` gives that shared client (huggingface_hub's public `get_session`, and only
  when nobody else gave it timeouts) connect / read / write timeouts of ``$HUBSTITCH_HUB_TIMEOUT`` seconds (default
  120): a bound on how long any request may stall, not on a whole large download. Retries multiply that bound, so
  every download (`hub_hint`) also has a deadline, ``$HUBSTITCH_HUB_DEADLINE`` seconds (default 20 request
  timeouts): no new request starts after it, and the error names the call that was next.
- Downloads that fail say why by HTTP status (`download_error`): a gated repo asks for its conditions to be
  accepted, 401 / 403 name the token, 429 says to wait, 5xx that the Hub failed; never "check the connection"
  for an answer the Hub did give.
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
import threading
import time
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx2
from huggingface_hub import CommitInfo, HfApi, get_session
from huggingface_hub.errors import HfHubHTTPError

from ..errors import HubstitchError
from .cards import save_card
from .offline_pins import check_push

logger = logging.getLogger(__name__)
_BOUNDED: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # shared clients hubstitch bounded -> seconds


class HubTransferError(HubstitchError, OSError):
    """An upload or download that failed; the message says whether anything was committed."""


class HubAuthError(HubstitchError, HfHubHTTPError):
    """The Hub refused a request for authentication (401) or permission (403)."""

    def __init__(self, message: str, response=None) -> None:
        HfHubHTTPError.__init__(self, message, response=response)


class HubDeadlineExceeded(HubstitchError):
    """Raised from inside huggingface_hub's client when a download's deadline has passed (`hub_hint` turns it into
    a `HubTransferError`); not an HTTP error, so no retry loop takes it for a transient failure."""


_DEADLINES: list[float] = []  # the deadlines of the downloads in progress (any thread)
_DEADLINES_LOCK = threading.Lock()


def _seconds(name: str, default: float, example: str) -> float:
    """The positive number of seconds in ``$name`` (or `default`), refused naming the variable otherwise."""
    raw = os.environ.get(name)
    if raw is None:
        return default
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if not value > 0:
        raise HubTransferError(f"{name}={raw!r}; expected a positive number of seconds; fix: unset it or set e.g. "
                               f"{example}")
    return value


def deadline_seconds() -> float:
    """``$HUBSTITCH_HUB_DEADLINE``, else 20 request timeouts: how long one download's requests may keep starting."""
    return _seconds("HUBSTITCH_HUB_DEADLINE", 20 * timeout_seconds(), "600")


def _bound_request(request: httpx2.Request) -> None:
    """huggingface_hub's client calls this before each request: a request sent with no timeout at all (its API
    calls pass ``timeout=None``, which overrides the client's own) gets hubstitch's; while downloads are in
    progress, none starts once every one of their deadlines has passed, and no stall may outlast the latest one
    (huggingface_hub retries a timed-out metadata request with a 60 s timeout of its own)."""
    timeout = dict(request.extensions.get("timeout") or {})
    if all(value is None for value in timeout.values()):
        seconds = timeout_seconds()
        timeout = httpx2.Timeout(seconds, connect=min(seconds, 30.0)).as_dict()
    with _DEADLINES_LOCK:
        latest = max(_DEADLINES) if _DEADLINES else None
    if latest is not None:
        remaining = latest - time.monotonic()
        if remaining <= 0:
            raise HubDeadlineExceeded(f"{request.method} {request.url}")
        timeout = {key: remaining if value is None else min(value, remaining) for key, value in timeout.items()}
    request.extensions["timeout"] = timeout


def timeout_seconds() -> float:
    """``$HUBSTITCH_HUB_TIMEOUT`` (default 120): how long one request may stall."""
    return _seconds("HUBSTITCH_HUB_TIMEOUT", 120.0, "120")


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
    session = get_session()
    timeout = session.timeout
    ours = _BOUNDED.get(session)
    unbounded = all(value is None for value in (timeout.connect, timeout.read, timeout.write, timeout.pool))
    if ours is None and not unbounded:
        return  # the application gave huggingface_hub's client its own timeouts: leave them alone
    if ours is None:
        session.event_hooks["request"].append(_bound_request)
    if ours != seconds:
        session.timeout = httpx2.Timeout(seconds, connect=min(seconds, 30.0))
        _BOUNDED[session] = seconds


_REACHABLE: dict[str, bool] = {}


def hub_reachable(seconds: float = 5.0) -> bool:
    """True when the Hub endpoint answers at all within `seconds` (asked once per endpoint and process); False
    offline (``HF_HUB_OFFLINE``) or when it cannot be reached."""
    from huggingface_hub import constants

    if constants.HF_HUB_OFFLINE:
        return False
    endpoint = constants.ENDPOINT
    if endpoint not in _REACHABLE:
        try:
            httpx2.head(endpoint, timeout=seconds)
            _REACHABLE[endpoint] = True
        except (httpx2.HTTPError, OSError):
            _REACHABLE[endpoint] = False
    return _REACHABLE[endpoint]


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


def _chain(err: BaseException | None) -> Iterator[BaseException]:
    """`err` and the errors it was raised from (``__cause__``, else ``__context__``), each once."""
    seen = set()
    while err is not None and id(err) not in seen:
        seen.add(id(err))
        yield err
        err = err.__cause__ or err.__context__


def _status(err: BaseException) -> tuple[int | None, BaseException | None]:
    """The HTTP status the Hub answered with, from `err` or an error it was raised from (and that error)."""
    for link in _chain(err):
        status = getattr(getattr(link, "response", None), "status_code", None)
        if isinstance(status, int):
            return status, link
    return None, None


def download_error(err: BaseException, what: str, repo_id: str, repo_type: str = "model") -> HubstitchError | None:
    """The hubstitch error for a download the Hub answered with an error status (None when it did not answer):
    gated, 401, 403, 429 and 5xx each say what happened and the fix; nothing was cached half-way in any case."""
    from huggingface_hub import constants
    from huggingface_hub.errors import GatedRepoError

    status, answered = _status(err)
    if status is None:
        return None
    response = getattr(answered, "response", None)
    page = f"{constants.ENDPOINT}/{'' if repo_type == 'model' else repo_type + 's/'}{repo_id}"
    code = response.headers.get("X-Error-Code", "") if response is not None else ""
    if isinstance(err, GatedRepoError) or isinstance(answered, GatedRepoError) or code == "GatedRepo":
        return HubAuthError(f"{repo_id} is a gated repo: its authors ask each user to accept their conditions before "
                            f"downloading the {what} (403); fix: open {page}, accept the conditions while logged in "
                            f"as the token's account, then try again (a fine-grained token also needs read access "
                            f"to public gated repos)", response=response)
    if status == 401:
        return HubAuthError(f"the Hub refused to serve the {what} {repo_id!r} (401: not logged in, or the token is "
                            f"invalid or expired); fix: `hf auth login` or set HF_TOKEN to a valid token",
                            response=response)
    if status == 403:
        return HubAuthError(f"the Hub refused to serve the {what} {repo_id!r} (403: the token may not read it: a "
                            f"fine-grained token without read access to this repo, or an organisation's repo you are "
                            f"not a member of); fix: use a token with read access to {repo_id}", response=response)
    if status == 429:
        wait = response.headers.get("Retry-After") if response is not None else None
        return HubTransferError(f"the Hub rate-limited the download of the {what} {repo_id!r} (429"
                                f"{f', retry after {wait} s' if wait else ''}); nothing was cached half-way; fix: "
                                f"wait and try again (logged-in requests get higher limits: `hf auth login`)")
    if status >= 500:
        return HubTransferError(f"the Hub failed to serve the {what} {repo_id!r} ({status}, a server error: not "
                                f"your connection); nothing was cached half-way; fix: try again later")
    return None


@contextmanager
def hub_hint(what: str, repo_id: str, revision: str | None, repo_type: str = "model") -> Iterator[None]:
    """Bound the transfer in time (request timeouts, and a deadline for the whole download); map an error status
    the Hub answered with to what it means (`download_error`); re-raise huggingface_hub's own not-found errors as
    they are, with a note saying what hubstitch was loading; a dropped, timed-out or late download becomes a
    `HubTransferError`."""
    ensure_timeouts()
    seconds = deadline_seconds()
    deadline = time.monotonic() + seconds
    with _DEADLINES_LOCK:
        _DEADLINES.append(deadline)
    try:
        with _mapped_download_errors(what, repo_id, revision, repo_type):
            yield
    except Exception as err:  # noqa: BLE001 - a passed deadline, wherever huggingface_hub wrapped it
        late = _deadline_in(err)
        if late is None:
            raise
        raise HubTransferError(f"downloading the {what} {repo_id!r} failed: the Hub had not answered it within "
                               f"{seconds:g} s ($HUBSTITCH_HUB_DEADLINE), so the next call, {late}, was not made; "
                               f"nothing was cached half-way; fix: check the connection and try again, or raise "
                               f"$HUBSTITCH_HUB_DEADLINE for a slow link") from err
    finally:
        with _DEADLINES_LOCK:
            _DEADLINES.remove(deadline)


def _timed_out(err: BaseException | None) -> str | None:
    """The URL of a request that timed out, found in `err` or the errors it came from; None if none did."""
    stalled = next((link for link in _chain(err) if isinstance(link, httpx2.TimeoutException)), None)
    return None if stalled is None else _request_url(stalled) or "a request"


def _deadline_in(err: BaseException | None) -> str | None:
    """The call a `HubDeadlineExceeded` stopped, found in `err` or the errors it came from; None if none."""
    late = next((link for link in _chain(err) if isinstance(link, HubDeadlineExceeded)), None)
    return None if late is None else str(late)


@contextmanager
def _mapped_download_errors(what: str, repo_id: str, revision: str | None, repo_type: str) -> Iterator[None]:
    """huggingface_hub's errors for one download, mapped as `hub_hint` says."""
    from huggingface_hub.errors import (
        EntryNotFoundError,
        GatedRepoError,
        LocalEntryNotFoundError,
        RepositoryNotFoundError,
        RevisionNotFoundError,
    )

    try:
        yield
    except GatedRepoError as err:
        raise download_error(err, what, repo_id, repo_type) from err
    except RevisionNotFoundError as err:
        err.add_note(f"hubstitch: loading the {what} {repo_id!r}: revision {revision!r} does not exist there; "
                     f"fix: check the branch, tag or commit (`hubstitch info {repo_id}` lists the stages and pins)")
        raise
    except RepositoryNotFoundError as err:
        err.add_note(f"hubstitch: loading the {what} {repo_id!r}: no such repo, or it is private; fix: check the "
                     f"id, or log in with `hf auth login` for a private repo")
        raise
    except LocalEntryNotFoundError as err:  # the Hub could not be asked, or answered an error, and nothing is cached
        mapped = download_error(err, what, repo_id, repo_type)
        if mapped is not None:
            raise mapped from err
        stalled = _timed_out(err)
        if stalled is not None:
            raise HubTransferError(f"downloading the {what} {repo_id!r} failed: the call {stalled} got no answer "
                                   f"within {timeout_seconds():g} s ($HUBSTITCH_HUB_TIMEOUT) and it is not in the "
                                   f"local cache; fix: check the connection and try again, or raise "
                                   f"$HUBSTITCH_HUB_TIMEOUT for a slow link") from err
        from huggingface_hub import constants

        if constants.HF_HUB_OFFLINE:
            raise HubTransferError(f"the {what} {repo_id!r} is not in the local Hub cache and HF_HUB_OFFLINE is set; "
                                   f"fix: check the id and revision, go online (unset HF_HUB_OFFLINE), or pass a "
                                   f"local folder") from err
        raise HubTransferError(f"downloading the {what} {repo_id!r} failed: the Hub could not be reached and it is "
                               f"not in the local Hub cache; fix: check the connection (or $HUBSTITCH_HUB_TIMEOUT), "
                               f"or pass a local folder") from err
    except EntryNotFoundError as err:
        err.add_note(f"hubstitch: {repo_id!r} at {revision or 'main'} lacks a file a hubstitch {what} needs; fix: "
                     f"check that the repo holds a hubstitch {what} saved with save_pretrained")
        raise
    except HfHubHTTPError as err:
        mapped = download_error(err, what, repo_id, repo_type)
        if mapped is None:
            raise
        raise mapped from err
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
        save_card(self.generate_model_card(**(model_card_kwargs or {})), save_directory / "README.md")
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
