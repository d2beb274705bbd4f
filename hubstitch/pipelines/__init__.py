"""Stitched pipelines: encoder -> translator -> head (or encoder -> relative head) as one pinned, loadable repo."""

from . import embedding as _embedding  # noqa: F401, E402 - registers the embedding shape with the pipeline loader
