"""Model card templates for hubstitch artifacts: the Markdown + Jinja files in ``model_cards/``.

Each artifact wing renders its own card from these (``translators/card.py``, ``heads/head.py``,
``pipelines/pipeline.py``).

Example:
    >>> from hubstitch.hub.cards import template
    >>> "{{ card_data }}" in template("translator.md")
    True
"""

from __future__ import annotations

import logging
from importlib import resources
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)
NOTES_MARKER = "<!-- hubstitch: write your own notes below this line; a re-save keeps them -->"


def template(name: str) -> str:
    """The text of a card template shipped in the `hubstitch.model_cards` package (``model_cards/`` in the repo)."""
    try:
        return resources.files("hubstitch.model_cards").joinpath(name).read_text(encoding="utf-8")
    except ModuleNotFoundError:  # running from a source checkout that was not installed
        return (Path(__file__).resolve().parents[2] / "model_cards" / name).read_text(encoding="utf-8")


def hub_base_model(model_id: str | None) -> str | None:
    """`model_id` if it can be a card's ``base_model``: a Hub id, not a local path, not an id that exists only on
    this machine's offline shelf."""
    from ..spaces import is_hub_id
    from .offline_pins import is_offline_only

    return model_id if is_hub_id(model_id) and not is_offline_only(model_id) else None


def hub_dataset(dataset_id: str | None) -> str | None:
    """`dataset_id` if it is a Hub dataset id (a model-index ``dataset.type`` must be one), else None."""
    from ..spaces import is_hub_id

    return dataset_id if is_hub_id(dataset_id) else None


def shared_license(*licenses: str | None) -> str | None:
    """The license the inputs state, when they all state the same one."""
    stated = {value for value in licenses}
    return stated.pop() if len(stated) == 1 else None


def save_card(card: Any, path: Path) -> None:
    """Write `card` (a `huggingface_hub.ModelCard`) to `path`, ending with `NOTES_MARKER`: whatever the README
    already there holds below that marker is kept under the new card; a README without the marker (written by
    hand, or by an older hubstitch) is replaced with a warning, never silently."""
    notes = ""
    if path.is_file():
        old = path.read_text(encoding="utf-8")
        if NOTES_MARKER in old:
            notes = old.split(NOTES_MARKER, 1)[1].strip("\n")
        elif old.strip() and old.strip() != str(card).strip():
            logger.warning("%s had no hubstitch notes marker, so it is replaced by the generated card; put your own "
                           "notes below the marker line at its end to have them kept on the next save", path)
    path.write_text(f"{str(card).rstrip()}\n\n{NOTES_MARKER}\n" + (f"{notes}\n" if notes else ""),
                    encoding="utf-8")
