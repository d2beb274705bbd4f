"""Finding published translators on the Hub, and the shortest chain of them between two checkpoints.

Translators are found by Hub search (the ``hubstitch`` library tag and ``latent-translation``), then read from
their ``config.json`` (pinned to the commit the search returned).

Example:
    >>> from hubstitch.translators.search import shortest_chain
    >>> edges = [{"repo_id": "t/ab", "source": "a", "target": "b"}, {"repo_id": "t/bc", "source": "b", "target": "c"}]
    >>> [e["repo_id"] for e in shortest_chain(edges, "a", "c")]
    ['t/ab', 't/bc']
"""

from __future__ import annotations

import logging
from collections import deque
from pathlib import Path
from typing import Any

import httpx2
from huggingface_hub import HfApi, hf_hub_download
from huggingface_hub.errors import HfHubHTTPError

from ..errors import ArtifactError
from ..hub.artifact_io import read_config
from ..hub.client import HubTransferError, download_error, ensure_timeouts
from .config import TranslatorConfig

logger = logging.getLogger(__name__)
SEARCH_TAGS = ["hubstitch", "latent-translation"]


def published_translators(token: str | bool | None = None, limit: int | None = None) -> list[dict[str, Any]]:
    """Every translator the Hub search returns, as {repo_id, revision, method, source, target, metrics}."""
    ensure_timeouts()
    api = HfApi(token=token)
    try:
        models = list(api.list_models(filter=SEARCH_TAGS, limit=limit))
    except HfHubHTTPError as err:
        raise (download_error(err, "search results", "(search)") or HubTransferError(
            f"searching the Hub for translators failed ({err}); fix: try again later")) from err
    except (httpx2.HTTPError, OSError) as err:
        from huggingface_hub import constants

        raise HubTransferError(f"searching the Hub for translators needs the Hub, and {constants.ENDPOINT} could not "
                               f"be reached ({type(err).__name__}: {err}); fix: check the connection; offline, load "
                               f"a translator you know by its id or folder") from err
    found = []
    for model in models:
        try:
            path = hf_hub_download(model.id, "config.json", revision=model.sha, token=token)
            config = TranslatorConfig.from_dict(read_config(Path(path)), origin=model.id)
        except (ArtifactError, HfHubHTTPError, OSError) as err:
            logger.warning("skipping %s: %s", model.id, err)
            continue
        found.append({"repo_id": model.id, "revision": model.sha, "method": config.method,
                      "source": config.source.model_id, "target": config.target.model_id,
                      "metrics": config.metrics.get("heldout", {})})
    return found


def shortest_chain(translators: list[dict[str, Any]], source: str, target: str) -> list[dict[str, Any]] | None:
    """The fewest translators leading from `source` to `target` (breadth-first), or None if none connect them."""
    outgoing: dict[str, list[dict[str, Any]]] = {}
    for edge in translators:
        outgoing.setdefault(edge["source"], []).append(edge)
    queue, seen = deque([(source, [])]), {source}
    while queue:
        node, path = queue.popleft()
        if node == target and path:
            return path
        for edge in outgoing.get(node, []):
            if edge["target"] not in seen or edge["target"] == target:
                seen.add(edge["target"])
                queue.append((edge["target"], [*path, edge]))
    return None
