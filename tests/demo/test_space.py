"""`hubstitch space export`: a Space folder that builds the way huggingface.co builds a Space (requirements.txt
alone first, offline here, then the rest), starts, and serves its Predict endpoint; a push needs the visitor's
sign-in with scopes that can create and write repos."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

pytest.importorskip("gradio")

EXAMPLES = sorted((Path(__file__).resolve().parents[2] / "hubstitch" / "demo" / "assets").glob("*.png"))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_export_writes_a_space_that_names_nothing_inside_itself_in_requirements(built_dist, tmp_path):
    from hubstitch.demo.space import OAUTH_SCOPES, export_space

    folder = export_space(tmp_path / "space", wheel=built_dist["wheel"])
    assert sorted(p.name for p in folder.iterdir()) == ["README.md", "app.py", "hubstitch", "packages.txt",
                                                        "requirements.txt"]
    assert (folder / "hubstitch" / "__init__.py").is_file() and (folder / "hubstitch" / "model_cards").is_dir()
    assert not list(folder.rglob("*.whl")) and not list(folder.rglob("__pycache__"))
    requirements = [line for line in (folder / "requirements.txt").read_text().splitlines()
                    if line and not line.startswith("#")]
    assert not [r for r in requirements if "./" in r or "wheels/" in r or r.startswith("hubstitch")]
    assert requirements[0] == "--extra-index-url https://download.pytorch.org/whl/cpu"
    assert requirements[1].startswith("torch==") and any(r.startswith("soundfile") for r in requirements)
    assert not any(r.startswith(("pytest", "ray", "selenium")) for r in requirements)  # the dev extra stays out
    meta = yaml.safe_load((folder / "README.md").read_text().split("---")[1])
    assert meta["sdk"] == "gradio" and meta["hf_oauth"] is True and meta["app_file"] == "app.py"
    assert set(meta["hf_oauth_scopes"]) == set(OAUTH_SCOPES) >= {"write-repos", "manage-repos"}  # create + push
    assert meta["models"] == ["sentence-transformers/all-MiniLM-L6-v2", "sentence-transformers/all-mpnet-base-v2"]
    assert (folder / "packages.txt").read_text().split() == ["dataset-fashion-mnist", "espeak-ng"]
    with pytest.raises(Exception, match="not empty"):
        export_space(folder, wheel=built_dist["wheel"])


def _venv_seeing_this_environment(venv: Path) -> Path:
    """A fresh venv that sees this interpreter's packages (standing in for the package index, offline) whatever
    environment the tests run in: a .pth adds this interpreter's site folders (--system-site-packages would add the
    base interpreter's, not those of the virtual environment the tests may run in)."""
    import site

    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=300)
    python = venv / "bin" / "python"
    purelib = subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                             capture_output=True, text=True, check=True, timeout=120).stdout.strip()
    folders = [*site.getsitepackages(), site.getusersitepackages()]
    Path(purelib, "this-environment.pth").write_text(
        "".join(f"import site; site.addsitedir({f!r})\n" for f in folders if Path(f).is_dir()))
    return python


@pytest.mark.slow
def test_the_exported_space_builds_as_a_space_builds_and_serves_predict(built_dist, shelf_cache, shelf_data,
                                                                        tmp_path):
    """The way huggingface.co builds a Gradio Space: requirements.txt alone into an empty folder and installed
    (offline here: no index), then the rest of the repository copied in, then app.py started."""
    import shutil

    from gradio_client import Client, handle_file

    from hubstitch.demo.stages import DEFAULT_PIPELINE

    exported = tmp_path / "exported"
    export = subprocess.run([sys.executable, "-m", "hubstitch.cli", "space", "export", str(exported), "--wheel",
                             str(built_dist["wheel"])], capture_output=True, text=True, timeout=300)
    assert export.returncode == 0, export.stderr
    folder = tmp_path / "space"
    folder.mkdir()
    shutil.copy2(exported / "requirements.txt", folder / "requirements.txt")  # alone, as the Space build does
    python = _venv_seeing_this_environment(tmp_path / "venv")
    install = subprocess.run([sys.executable, "-m", "pip", "--python", str(python), "install", "--no-index", "-q",
                              "-r", "requirements.txt"], capture_output=True, text=True, timeout=600,
                             cwd=folder)  # no package index: offline
    assert install.returncode == 0, install.stderr
    shutil.copytree(exported, folder, dirs_exist_ok=True)  # then the rest of the repository
    where = subprocess.run([str(python), "-c", "import hubstitch; print(hubstitch.__file__)"], capture_output=True,
                           text=True, timeout=120, cwd=folder, env={**os.environ, "PYTHONPATH": ""})
    assert where.stdout.strip() == str(folder / "hubstitch" / "__init__.py"), where.stdout + where.stderr
    cache = tmp_path / "hubstitch-cache"
    cache.mkdir()
    (cache / "datasets").symlink_to(shelf_data["fashion_mnist"].parent)
    port = _free_port()
    env = {**os.environ, "GRADIO_SERVER_NAME": "127.0.0.1", "GRADIO_SERVER_PORT": str(port), "HF_HUB_OFFLINE": "1",
           "HF_HUB_CACHE": str(shelf_cache), "HUBSTITCH_CACHE": str(cache), "HUBSTITCH_DEMO_ANCHORS": "300",
           "PYTHONPATH": "",
           # what a Space with hf_oauth: true sets (no request reaches these addresses in this test)
           "SYSTEM": "spaces", "SPACE_ID": "tester/hubstitch", "OAUTH_CLIENT_ID": "test-client",
           "OAUTH_CLIENT_SECRET": "test-secret",
           "OAUTH_SCOPES": "openid profile write-repos manage-repos", "OPENID_PROVIDER_URL": "http://127.0.0.1:9"}
    server = subprocess.Popen([str(python), "app.py"], cwd=folder, env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.time() + 300
        while time.time() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=1):
                    break
            except OSError:
                assert server.poll() is None, server.stdout.read()
                time.sleep(1)
        client = Client(f"http://127.0.0.1:{port}/", verbose=False)
        out = client.predict(DEFAULT_PIPELINE, handle_file(str(EXAMPLES[0])), "", 3, api_name="/predict_pipeline")
        assert out["label"] and len(out["confidences"]) == 3
        with pytest.raises(Exception, match="Sign in with Hugging Face first"):
            client.predict("someone/translator", api_name="/push")
    finally:
        server.terminate()
        server.wait(timeout=60)


def test_export_works_from_an_installed_package_with_no_checkout(built_dist, tmp_path):
    """After `pip install hubstitch` (or `pip install .`) there is no source to build a wheel from: the installed
    package itself is what the Space ships (the suggested `pip download hubstitch` could not work: not on PyPI)."""
    import zipfile

    site = tmp_path / "site"
    with zipfile.ZipFile(built_dist["wheel"]) as wheel:
        wheel.extractall(site)  # what pip install puts in site-packages
    code = ("import sys, hubstitch; from hubstitch.demo.space import export_space\n"
            "assert hubstitch.__file__.startswith(sys.argv[2]), hubstitch.__file__\n"
            "print(export_space(sys.argv[1]))\n")
    run = subprocess.run([sys.executable, "-c", code, str(tmp_path / "space"), str(site)], capture_output=True,
                         text=True, timeout=300, cwd=tmp_path, env={**os.environ, "PYTHONPATH": str(site)})
    assert run.returncode == 0, run.stderr
    folder = tmp_path / "space"
    assert (folder / "hubstitch" / "model_cards").is_dir() and (folder / "hubstitch" / "demo" / "assets").is_dir()
    assert not list(folder.rglob("__pycache__"))
    assert any(line.startswith("soundfile") for line in (folder / "requirements.txt").read_text().splitlines())
