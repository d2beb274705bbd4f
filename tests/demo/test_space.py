"""`hubstitch space export`: a Space folder that installs offline into a fresh virtual environment from the wheel it
ships, starts, and serves its Predict endpoint; a push needs the visitor's sign-in."""

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


def test_export_writes_an_honest_self_contained_space(built_dist, tmp_path):
    from hubstitch.demo.space import export_space

    folder = export_space(tmp_path / "space", wheel=built_dist["wheel"])
    assert sorted(p.name for p in folder.iterdir()) == ["README.md", "app.py", "packages.txt", "requirements.txt",
                                                        "wheels"]
    requirements = (folder / "requirements.txt").read_text()
    assert f"./wheels/{built_dist['wheel'].name}[demo]" in requirements and "hubstitch[demo]>=" not in requirements
    meta = yaml.safe_load((folder / "README.md").read_text().split("---")[1])
    assert meta["sdk"] == "gradio" and meta["hf_oauth"] is True and meta["app_file"] == "app.py"
    assert meta["models"] == ["sentence-transformers/all-MiniLM-L6-v2", "sentence-transformers/all-mpnet-base-v2"]
    assert (folder / "packages.txt").read_text().split() == ["dataset-fashion-mnist"]
    with pytest.raises(Exception, match="not empty"):
        export_space(folder, wheel=built_dist["wheel"])


@pytest.mark.slow
def test_the_exported_space_installs_offline_in_a_fresh_venv_and_serves_predict(built_dist, shelf_cache, shelf_data,
                                                                                  tmp_path):
    from gradio_client import Client, handle_file

    from hubstitch.demo.stages import DEFAULT_PIPELINE

    folder = tmp_path / "space"
    export = subprocess.run([sys.executable, "-m", "hubstitch.cli", "space", "export", str(folder), "--wheel",
                             str(built_dist["wheel"])], capture_output=True, text=True, timeout=300)
    assert export.returncode == 0, export.stderr
    venv = tmp_path / "venv"
    # system site packages stand in for the index (torch & co. are already here); no bundled pip / setuptools
    subprocess.run([sys.executable, "-m", "venv", "--system-site-packages", "--without-pip", str(venv)], check=True,
                   timeout=300)
    python = venv / "bin" / "python"
    install = subprocess.run([sys.executable, "-m", "pip", "--python", str(python), "install", "--no-index", "-q",
                              "-r", "requirements.txt"], capture_output=True, text=True, timeout=600,
                             cwd=folder)  # no package index: offline
    assert install.returncode == 0, install.stderr
    where = subprocess.run([str(python), "-c", "import hubstitch; print(hubstitch.__file__)"], capture_output=True,
                           text=True, timeout=120, cwd=tmp_path)
    assert str(venv) in where.stdout, where.stdout  # the shipped wheel, not the developer's checkout
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
           "OAUTH_SCOPES": "openid profile write-repos", "OPENID_PROVIDER_URL": "http://127.0.0.1:9"}
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
