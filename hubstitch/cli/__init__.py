"""The ``hubstitch`` command line, one module per command group; `main` is the entry point.

Example:
    >>> from hubstitch.cli import main
    >>> main(["--version"])  # doctest: +SKIP
    hubstitch 0.1.0
"""

from .main import build_parser, main

__all__ = ["build_parser", "main"]
