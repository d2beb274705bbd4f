"""Model card templates for hubstitch artifacts: the Markdown + Jinja files in ``model_cards/``.

Each artifact wing renders its own card from these (``translators/card.py``, ``heads/head.py``,
``pipelines/pipeline.py``).

Example:
    >>> from hubstitch.hub.cards import template
    >>> "{{ card_data }}" in template("translator.md")
    True
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path


def template(name: str) -> str:
    """The text of a card template shipped in the `hubstitch.model_cards` package (``model_cards/`` in the repo)."""
    try:
        return resources.files("hubstitch.model_cards").joinpath(name).read_text(encoding="utf-8")
    except ModuleNotFoundError:  # running from a source checkout that was not installed
        return (Path(__file__).resolve().parents[2] / "model_cards" / name).read_text(encoding="utf-8")
