"""Stitched pipelines: encoder -> translator -> head (or encoder -> relative head) as one pinned, loadable repo."""
