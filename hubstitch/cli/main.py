"""The ``hubstitch`` command line. Data goes to stdout, messages to stderr; errors exit non-zero with one line.

Each command group registers its own sub-commands (`fitting`, `artifacts`, `shelf`).

Example:
    $ hubstitch quickstart --out ./quickstart-pipeline
    $ hubstitch fit-latents source.safetensors target.npy --method auto --holdout 0.2 --out ./translator
"""

from __future__ import annotations

import argparse
import logging
import sys

from .._version import __version__
from ..errors import HubstitchError
from . import artifacts, fitting, retrieval, shelf


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="hubstitch", description="Stitch pretrained models through their latents.")
    parser.add_argument("--version", action="version", version=f"hubstitch {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress details to stderr")
    sub = parser.add_subparsers(dest="command", required=True)
    shelf.register_quickstart(sub)
    for group in (fitting, artifacts, retrieval, shelf):
        group.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, stream=sys.stderr,
                        format="%(levelname)s %(name)s: %(message)s")
    from huggingface_hub.errors import EntryNotFoundError, HfHubHTTPError, LocalEntryNotFoundError

    try:
        code = args.func(args)
    except LocalEntryNotFoundError as err:
        _fail(args.command, f"{err} (hubstitch: not in the local Hub cache and the Hub is offline or unreachable; "
                            f"fix: check the id and revision, go online, or pass a local folder)")
        return 1
    except (HubstitchError, OSError, HfHubHTTPError, EntryNotFoundError) as err:
        _fail(args.command, " ".join([str(err), *getattr(err, "__notes__", [])]))
        return 1
    return code if isinstance(code, int) else 0


def _fail(command: str, message: str) -> None:
    """One line on stderr, whatever the error's own formatting."""
    sys.stderr.write(f"hubstitch {command}: error: {' '.join(message.split())}\n")
