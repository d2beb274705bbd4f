"""The ``hubstitch`` command line. Data goes to stdout, messages to stderr; every error is one line and exit 1.

Each command group registers its own sub-commands (`fitting`, `artifacts`, `retrieval`, `shelf`). Progress
messages (downloads, dataset builds, what auto chose) are logged at INFO and shown by default; ``-q`` / ``--quiet``
keeps only warnings and drops progress bars; ``-v`` / ``--verbose`` adds debug messages and, on an error, the
traceback. Both flags work before or after the command. ``hubstitch --help`` imports neither torch nor transformers.

Example:
    $ hubstitch quickstart --out ./quickstart-pipeline
    $ hubstitch fit-latents source.safetensors target.npy --method auto --holdout 0.2 --out ./translator -q
"""

from __future__ import annotations

import argparse
import logging
import sys
import traceback

from .._version import __version__
from ..errors import HubstitchError
from . import artifacts, fitting, retrieval, shelf


class _Formatter(argparse.RawDescriptionHelpFormatter):
    """Show each option's default once (not where the help already says it, nor an empty one); keep descriptions
    as written."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        if ("default" in text.lower() or action.default in (None, False, argparse.SUPPRESS)
                or not action.option_strings):
            return text
        return text + " (default: %(default)s)"


def _flags() -> argparse.ArgumentParser:
    """-v / -q, accepted before the command and after it (SUPPRESS: a later position does not reset an earlier)."""
    flags = argparse.ArgumentParser(add_help=False)
    flags.add_argument("-v", "--verbose", action="store_true", default=argparse.SUPPRESS,
                       help="debug messages, and the traceback of an error")
    flags.add_argument("-q", "--quiet", action="store_true", default=argparse.SUPPRESS,
                       help="warnings only: no progress messages or bars")
    return flags


def build_parser() -> argparse.ArgumentParser:
    flags = _flags()
    parser = argparse.ArgumentParser(prog="hubstitch", description="Stitch pretrained models through their latents.",
                                     parents=[flags], formatter_class=_Formatter)
    parser.add_argument("--version", action="version", version=f"hubstitch {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    original = sub.add_parser

    def add_parser(name: str, **kwargs):
        kwargs.setdefault("description", kwargs.get("help"))
        return original(name, parents=[flags, *kwargs.pop("parents", [])], formatter_class=_Formatter, **kwargs)

    sub.add_parser = add_parser
    shelf.register_quickstart(sub)
    for group in (fitting, artifacts, retrieval, shelf):
        group.register(sub)
    _everywhere(parser, flags)
    return parser


def _everywhere(parser: argparse.ArgumentParser, flags: argparse.ArgumentParser) -> None:
    """-v / -q and the formatter on every nested sub-command too (``index build ... -q``), not only the first
    level."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for child in action.choices.values():
                child.formatter_class = _Formatter
                if "--quiet" not in child._option_string_actions:
                    for flag in flags._actions:
                        child._add_action(flag)
                _everywhere(child, flags)


def _configure_logging(verbose: bool, quiet: bool) -> None:
    level = logging.DEBUG if verbose else logging.WARNING if quiet else logging.INFO
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s" if verbose
                                           else "hubstitch: %(message)s"))
    root = logging.getLogger("hubstitch")
    root.handlers[:] = [handler]  # stderr; records still propagate to whatever the host application set up
    root.setLevel(level)
    if quiet:
        import os

        os.environ["HF_HUB_DISABLE_PROGRESS_BARS"] = "1"  # read by huggingface_hub and transformers at import


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    args.verbose, args.quiet = getattr(args, "verbose", False), getattr(args, "quiet", False)
    _configure_logging(args.verbose, args.quiet)
    try:
        code = args.func(args)
    except KeyboardInterrupt:
        _fail(args.command, "interrupted")
        return 130
    except Exception as err:  # noqa: BLE001 - the CLI promises one line for every failure
        _fail(args.command, _describe(err))
        if args.verbose:
            traceback.print_exc(file=sys.stderr)
        return 1
    return code if isinstance(code, int) else 0


def _describe(err: BaseException) -> str:
    """One readable line for any error: hubstitch's own say it all; others are named, with what to do."""
    from huggingface_hub.errors import EntryNotFoundError, HfHubHTTPError, LocalEntryNotFoundError

    text = " ".join([str(err), *getattr(err, "__notes__", [])]).strip()
    if isinstance(err, LocalEntryNotFoundError):
        return (f"{text} (hubstitch: not in the local Hub cache and the Hub is offline or unreachable; fix: check "
                f"the id and revision, go online, or pass a local folder)")
    if isinstance(err, (HubstitchError, OSError, HfHubHTTPError, EntryNotFoundError)):
        return text or type(err).__name__
    kind = type(err).__name__
    if kind == "HFValidationError":
        return f"{text} (hubstitch: not an existing folder, nor a valid Hub repo id; fix: check the path or the id)"
    return (f"unexpected {kind}: {text or 'no message'} (hubstitch did not foresee this input or state; fix: check "
            f"the inputs; run again with -v for the traceback, and report it if the inputs look right)")


def _fail(command: str, message: str) -> None:
    """One line on stderr, whatever the error's own formatting."""
    sys.stderr.write(f"hubstitch {command}: error: {' '.join(message.split())}\n")
