"""`AnchorSet`: parallel anchor items from a Hub dataset, a local dataset folder, CSV / JSONL / Parquet, a Lance
dataset, or an image folder.

One column gives same-modality pairs (the same sentences through two text encoders); two paired columns give
cross-modal pairs (an image and its caption). Selection always returns indices of real items, so both sides stay
parallel; a held-out part is split off first for evaluation. Provenance and a fingerprint go into the translator's
config and key the latent cache.

Example:
    >>> import tempfile, pathlib
    >>> from hubstitch.data.anchors import AnchorSet
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "pairs.jsonl"
    >>> _ = path.write_text("".join(f'{{"text": "item {i}", "label": {i % 2}}}\\n' for i in range(20)))
    >>> anchors = AnchorSet.load(str(path), source_column="text", label_column="label")
    >>> pool, heldout = anchors.split_holdout(0.25, seed=0)
    >>> len(pool.select(6, selection="stratified")), len(heldout)
    (6, 5)
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import torch

from ..errors import AnchorCountError, HubstitchValueError
from ..hub.files import content_hash, resolve, split_revision
from ..math.anchor_selection import select_indices
from ..translators.config import AnchorProvenance

logger = logging.getLogger(__name__)

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff"}


class DatasetError(HubstitchValueError):
    """A dataset, split or column that an `AnchorSet` cannot use."""


def _image_folder(folder: Path):
    from datasets import Dataset

    paths, labels = [], []
    for class_dir in sorted(p for p in folder.iterdir() if p.is_dir()):
        for path in sorted(class_dir.iterdir()):
            if path.suffix.lower() in IMAGE_SUFFIXES:
                paths.append(str(path))
                labels.append(class_dir.name)
    if not paths:
        raise DatasetError(f"{folder} holds no images in class subfolders; expected <folder>/<label>/<image>; "
                           f"fix: lay the images out by class")
    return Dataset.from_dict({"image": paths, "label": labels})


def _read_rows(raw: bytes, builder: str, spec: str) -> list[dict[str, Any]]:
    """The rows of a CSV (header row) or JSON file (JSON lines, or one array), each a dict of column -> value."""
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        raise DatasetError(f"{spec!r} is not UTF-8 text ({err}); fix: save it as UTF-8") from None
    if builder == "csv":
        import csv
        import io

        try:
            rows = list(csv.DictReader(io.StringIO(text)))
        except csv.Error as err:
            raise DatasetError(f"{spec!r} could not be read as CSV ({err}); fix: check its quoting") from None
        if not rows:
            raise DatasetError(f"{spec!r} is empty: a header and no rows; fix: check the file")
        ragged = [i + 2 for i, row in enumerate(rows) if None in row]
        if ragged:
            raise DatasetError(f"{spec!r} has rows with more fields than its header (lines {ragged[:5]}); fix: check "
                               f"the quoting of those lines")
        return rows
    stripped = text.strip()
    try:
        if stripped.startswith("["):
            rows = json.loads(stripped)
        else:
            rows = [json.loads(line) for line in stripped.splitlines() if line.strip()]
    except (json.JSONDecodeError, RecursionError) as err:
        raise DatasetError(f"{spec!r} could not be read as JSON ({err}); fix: one JSON object per line") from None
    bad = [i for i, row in enumerate(rows if isinstance(rows, list) else [rows]) if not isinstance(row, dict)]
    if not isinstance(rows, list) or bad or not rows:
        raise DatasetError(f"{spec!r} could not be read as JSON rows (entries {bad[:5]} are not objects); expected "
                           f"one JSON object per line; fix: check the file")
    return rows


def _load_dataset(spec: str, config: str | None, split: str, revision: str | None,
                  local_files_only: bool | None) -> tuple[Any, str, str]:
    """(dataset, name for provenance, pinned revision or content hash)."""
    from datasets import Dataset, DatasetDict, load_dataset, load_from_disk

    path = Path(spec).expanduser()
    if path.is_file() and path.suffix.lower() == ".parquet":
        return Dataset.from_parquet(str(path)), str(path.resolve()), content_hash(path)
    if path.is_dir() and path.suffix.lower() == ".lance":
        try:
            import lance
        except ImportError as err:
            raise DatasetError(f"{spec!r} is a Lance dataset; reading it needs pylance ({err}); fix: pip install "
                               f"'hubstitch[ray]' (or pylance)") from None
        return Dataset(lance.dataset(str(path)).to_table()), str(path.resolve()), content_hash(path)
    if path.is_file():
        builder = {".csv": "csv", ".jsonl": "json", ".json": "json"}.get(path.suffix.lower())
        if builder is None:
            raise DatasetError(f"{spec!r} has an unknown extension; expected .csv, .jsonl, .json or .parquet, a "
                               f"dataset or .lance folder, or a Hub id; fix: convert it")
        raw = path.read_bytes()
        if not raw.strip():
            raise DatasetError(f"{spec!r} is empty; expected rows of {builder.upper()}; fix: check the file")
        rows = _read_rows(raw, builder, spec)  # parsed here: pyarrow's JSON reader crashes the process on some files
        try:
            data = Dataset.from_list(rows)
        except Exception as err:  # noqa: BLE001 - pyarrow refuses mixed column types with several kinds
            raise DatasetError(f"{spec!r}: the rows do not form a table ({type(err).__name__}: {str(err)[:200]}); "
                               f"fix: give every row the same columns with one type each") from None
        return data, str(path.resolve()), f"sha256:{hashlib.sha256(raw).hexdigest()}"
    if path.is_dir():
        if (path / "dataset_info.json").is_file() or (path / "dataset_dict.json").is_file():
            data = load_from_disk(str(path))
        elif any(p.is_dir() for p in path.iterdir()) and not any(p.suffix in (".parquet", ".csv", ".json", ".jsonl")
                                                                 for p in path.iterdir()):
            data = _image_folder(path)
        else:
            data = load_dataset(str(path), name=config, split=split)
        if isinstance(data, DatasetDict):
            if split not in data:
                raise DatasetError(f"{spec!r} has splits {sorted(data)}, not {split!r}; fix: pass --split")
            data = data[split]
        return data, str(path.resolve()), content_hash(path)
    resolved = resolve(spec, revision=revision, repo_type="dataset", local_files_only=local_files_only)
    data = load_dataset(str(resolved.folder), name=config, split=split)
    assert isinstance(data, Dataset)
    return data, spec, resolved.revision


HELDOUT_FLOOR = 100  # held-out rows kept even for a small n (metrics on fewer are mostly noise)


def heldout_count(holdout: float | int, total: int, n: int | None = None) -> int:
    """How many of `total` rows a `holdout` keeps out: a count as given; a fraction of all rows, or, when only
    `n` anchors will be used, of n plus the held-out part (at least `HELDOUT_FLOOR`, at most the fraction of all).

    Example:
        >>> heldout_count(0.2, 2225), heldout_count(0.2, 2225, n=64), heldout_count(0.2, 2225, n=1000)
        (445, 100, 250)
    """
    if not isinstance(holdout, float):
        return int(holdout)
    everything = int(round(holdout * total))
    if n is None or holdout <= 0:
        return everything
    proportional = int(math.ceil(holdout * n / (1.0 - holdout)))
    return min(everything, max(proportional, HELDOUT_FLOOR))


@dataclass
class AnchorSet:
    """Items of a dataset (all of them, or selected rows) with the columns that feed each encoder."""

    dataset: Any  # datasets.Dataset
    source_column: str
    target_column: str | None = None
    label_column: str | None = None
    provenance: AnchorProvenance = field(default_factory=AnchorProvenance)
    indices: list[int] | None = None  # rows of the original dataset, in anchor order

    @classmethod
    def load(cls, spec: str, *, source_column: str, target_column: str | None = None,
             label_column: str | None = None, config: str | None = None, split: str = "train",
             revision: str | None = None, local_files_only: bool | None = None) -> AnchorSet:
        """Load from a Hub dataset id (``id`` or ``id@revision``), a local dataset folder, a CSV / JSONL / Parquet
        file, a Lance dataset folder (``*.lance``) or an image folder (``<folder>/<label>/<image>``, columns
        ``image`` and ``label``)."""
        name, at_revision = split_revision(spec)
        try:
            data, display, pinned = _load_dataset(name, config, split, revision or at_revision, local_files_only)
        except ValueError as err:
            if isinstance(err, HubstitchValueError) or "corresponds to no data" not in str(err):
                raise
            data, display, pinned = [], name, None
        if len(data) == 0:
            raise DatasetError(f"{display!r} split {split!r} is empty; expected at least one row; fix: pick "
                               f"another split or file")
        columns = [c for c in (source_column, target_column, label_column) if c]
        missing = [c for c in columns if c not in data.column_names]
        if missing:
            raise DatasetError(f"column(s) {missing} not in {display!r}; it has {data.column_names}; "
                               f"fix: pass one of those to --source-column / --target-column / --label-column")
        provenance = AnchorProvenance(dataset_id=display, config=config, split=split, revision=pinned,
                                      columns=columns, n=len(data))
        anchors = cls(data, source_column, target_column, label_column, provenance)
        anchors.provenance.fingerprint = anchors.dataset_fingerprint()
        return anchors

    def __len__(self) -> int:
        return len(self.indices) if self.indices is not None else len(self.dataset)

    def rows(self) -> list[int]:
        return list(range(len(self.dataset))) if self.indices is None else list(self.indices)

    def dataset_fingerprint(self) -> str:
        """Identifies the data (not the selection): dataset, config, split, pinned revision and columns."""
        p = self.provenance
        key = json.dumps([p.dataset_id, p.config, p.split, p.revision, p.columns])
        return hashlib.sha256(key.encode()).hexdigest()[:16]

    def _column(self, column: str) -> list[Any]:
        rows = self.rows()
        data = self.dataset.select(rows) if self.indices is not None else self.dataset
        return list(data[column])

    def column(self, name: str) -> list[Any]:
        """The values of column `name` for these rows (a transcript column, say), refused where it is missing."""
        if name not in self.dataset.column_names:
            raise DatasetError(f"column {name!r} is not in the anchors; they have {self.dataset.column_names}; fix: "
                               f"pass one of those")
        return self._column(name)

    def source_items(self) -> list[Any]:
        return self._column(self.source_column)

    def target_items(self) -> list[Any]:
        return self._column(self.target_column or self.source_column)

    def labels(self) -> list[Any]:
        """The label of each item; class names where the column is a `datasets.ClassLabel`."""
        if not self.label_column:
            raise DatasetError("no label column was given; fix: pass label_column= (--label-column)")
        values = self._column(self.label_column)
        names = getattr(self.dataset.features.get(self.label_column), "names", None)
        return [names[v] for v in values] if names else values

    def _subset(self, rows: list[int], **provenance: Any) -> AnchorSet:
        return replace(self, indices=rows, provenance=replace(self.provenance, n=len(rows), **provenance))

    def split_holdout(self, holdout: float | int, seed: int = 0,
                      n: int | None = None) -> tuple[AnchorSet, AnchorSet | None]:
        """(pool, held-out): a seeded random fraction (float) or count (int) of the rows kept out for evaluation.

        With `n` (the anchors that will be used) a fraction is of those anchors plus the held-out part, at least
        `HELDOUT_FLOOR` rows and at most that fraction of the whole set: ``n=64, holdout=0.2`` holds out 100 rows,
        not a fifth of a 2,225-row dataset (`heldout_count`)."""
        rows = self.rows()
        count = heldout_count(holdout, len(rows), n)
        if not 0 <= count < len(rows):
            raise AnchorCountError(f"holdout={holdout!r} keeps {count} of {len(rows)} rows out; expected fewer than "
                                   f"all of them; fix: lower --holdout")
        if count == 0:
            return self, None
        order = torch.randperm(len(rows), generator=torch.Generator().manual_seed(seed + 7919)).tolist()
        held = sorted(rows[i] for i in order[:count])
        pool = sorted(rows[i] for i in order[count:])
        return self._subset(pool), self._subset(held, selection="holdout", seed=seed)

    def select(self, n: int, seed: int = 0, selection: str = "random",
               features: torch.Tensor | None = None) -> AnchorSet:
        """`n` anchors by `selection`; `features` (one row per item of this set) for ``kmeans`` / ``farthest``."""
        rows = self.rows()
        if n > len(rows):
            raise AnchorCountError(f"asked for {n} anchors but only {len(rows)} items are available; expected "
                                   f"n <= {len(rows)}; fix: lower --n (or --holdout), or use a larger split")
        labels = None
        if selection == "stratified":
            values = self.labels()
            codes = {v: i for i, v in enumerate(sorted(set(values), key=str))}
            labels = torch.tensor([codes[v] for v in values])
        chosen = select_indices(len(rows), n, selection, labels=labels, features=features, seed=seed)
        return self._subset([rows[i] for i in chosen.tolist()], selection=selection, seed=seed)

    def provenance_dict(self) -> dict[str, Any]:
        return asdict(self.provenance)
