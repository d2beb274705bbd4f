"""Connecting to a Ray cluster, the settings of a distributed run, and encoders rebuilt on the workers.

`RaySettings` says where and how wide a run is; `ray_cluster` joins the cluster at ``address`` (or starts a local
one, on 127.0.0.1, and stops it afterwards) and checks that it has the CPUs and GPUs the workers ask for; an
`EncoderRecipe` is what travels to a worker instead of the weights: the pinned model id, pooling, layer and
max_length, loaded there with `Encoder.from_pretrained` (from the Hub, or the node's Hugging Face cache).

Example:
    >>> from hubstitch.engines.ray_cluster import RaySettings
    >>> RaySettings(num_workers=4, gpus_per_worker=1).num_workers
    4
"""

from __future__ import annotations

import importlib
import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import HubstitchError, HubstitchValueError

logger = logging.getLogger(__name__)


class EngineError(HubstitchValueError):
    """A distributed run that cannot start or did not finish (no Ray, too few resources, a bad item)."""


def import_extra(module: str, what: str):
    """`module` (a package of the ``hubstitch[ray]`` extra), or an `EngineError` saying `what` needs it and how to
    install it."""
    try:
        return importlib.import_module(module)
    except ImportError as err:
        raise EngineError(f"{what} ({err}); fix: pip install 'hubstitch[ray]', or use engine 'local'") from None


def import_ray():
    """The ``ray`` module with Ray Data, or an `EngineError` that says how to install it."""
    import_extra("ray.data", "engine 'ray' needs Ray with Ray Data")  # Ray Data ships in the ray[data] extra
    return import_extra("ray", "engine 'ray' needs Ray")


@dataclass(frozen=True)
class RaySettings:
    """Where a distributed run goes (``address``: ``auto``, ``ray://host:10001`` or None for a local cluster) and
    its width: `num_workers` actors, each holding one copy of each encoder on `cpus_per_worker` CPUs and
    `gpus_per_worker` GPUs; `batch_size` items per encoder forward pass."""

    address: str | None = None
    num_workers: int = 2
    gpus_per_worker: float = 0.0
    cpus_per_worker: float = 1.0
    batch_size: int = 32

    def __post_init__(self) -> None:
        if isinstance(self.num_workers, bool) or not isinstance(self.num_workers, int) or self.num_workers < 1:
            raise EngineError(f"num_workers={self.num_workers!r}; expected a whole number of at least 1; fix: pass "
                              f"--num-workers 2 (or more)")
        for name in ("gpus_per_worker", "cpus_per_worker"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
                raise EngineError(f"{name}={value!r}; expected a number >= 0; fix: pass --{name.replace('_', '-')} "
                                  f"1 (or 0.5 to share a device)")
        if self.cpus_per_worker == 0 and self.gpus_per_worker == 0:
            raise EngineError("cpus_per_worker=0 and gpus_per_worker=0: a worker would hold no resource; fix: give "
                              "it CPUs or GPUs")

    @property
    def cpus_needed(self) -> float:
        """The workers' CPUs plus one for the tasks that feed and reduce them (fewer deadlocks the pipeline)."""
        return self.num_workers * self.cpus_per_worker + 1


def _check_resources(ray, settings: RaySettings) -> None:
    resources = ray.cluster_resources()
    cpus, gpus = resources.get("CPU", 0.0), resources.get("GPU", 0.0)
    gpus_needed = settings.num_workers * settings.gpus_per_worker
    if cpus < settings.cpus_needed or gpus < gpus_needed:
        raise EngineError(
            f"the Ray cluster has {cpus:g} CPUs and {gpus:g} GPUs; {settings.num_workers} workers with "
            f"{settings.cpus_per_worker:g} CPUs and {settings.gpus_per_worker:g} GPUs each need "
            f"{settings.cpus_needed:g} CPUs (one more feeds them) and {gpus_needed:g} GPUs; fix: lower "
            f"--num-workers or the per-worker resources, or add nodes")


CONNECT_SECONDS = 10.0  # how long a cluster's head gets to accept a connection before the address is refused


def check_reachable(address: str, seconds: float = CONNECT_SECONDS) -> None:
    """Refuse a ``host:port`` Ray address that does not accept a TCP connection within `seconds` (``ray.init``
    itself would keep retrying for minutes); ``auto`` and ``ray://`` addresses are left to Ray."""
    import socket

    if address == "auto" or "://" in address:
        return
    host, _, port = address.rpartition(":")
    if not host or not port.isdigit():
        raise EngineError(f"--ray-address {address!r} is not host:port; expected e.g. 10.0.0.5:6379 (the head's GCS "
                          f"address, `ray status` shows it); fix: pass host:port, or leave it out for a local cluster")
    try:
        with socket.create_connection((host, int(port)), timeout=seconds):
            return
    except OSError as err:
        raise EngineError(f"no Ray cluster answers at {address} within {seconds:g} s ({err}); expected a running "
                          f"head (`ray start --head`); fix: check the address and that the head is up, or leave "
                          f"--ray-address out to start a local cluster") from None


@contextmanager
def ray_cluster(settings: RaySettings) -> Iterator[Any]:
    """Yield the ``ray`` module connected to `settings.address` (an already initialised session is used as it is;
    with no address a local cluster is started on 127.0.0.1 and shut down on exit)."""
    ray = import_ray()
    started = False
    if not ray.is_initialized():
        options: dict[str, Any] = {"include_dashboard": False, "configure_logging": False, "log_to_driver": False}
        if settings.address:
            check_reachable(settings.address)
            ray.init(address=settings.address, **options)
        else:  # logical CPUs: the feeding tasks are light, so a 2-core machine can run 2 workers and them
            ray.init(num_cpus=max(os.cpu_count() or 1, int(settings.cpus_needed + 0.999)),
                     _node_ip_address="127.0.0.1", **options)
        started = True
    try:
        context = ray.data.DataContext.get_current()
        context.enable_progress_bars = False  # hubstitch's own bar counts the rows on the driver
        context.print_on_execution_start = False
        context.raise_original_map_exception = True  # a worker's EngineError, not Ray Data's UserCodeException
        _check_resources(ray, settings)
        yield ray
    finally:
        if started:
            ray.shutdown()


def reraise(err: BaseException) -> None:
    """Raise the hubstitch error a Ray task raised, out of the wrappers Ray and Ray Data put around it; else `err`."""
    found = unwrap_error(err)
    if found is err:
        raise err
    raise found from err


def unwrap_error(err: BaseException) -> BaseException:
    """The hubstitch error a Ray task raised, out of the wrappers Ray and Ray Data put around it; else `err`."""
    seen: set[int] = set()
    stack: list[BaseException | None] = [err]
    while stack:
        current = stack.pop()
        if current is None or id(current) in seen:
            continue
        seen.add(id(current))
        if isinstance(current, HubstitchError) and type(current).__module__.startswith("hubstitch"):
            return type(current)(*current.args) if current.args else current
        stack.extend([current.__cause__, current.__context__, getattr(current, "cause", None)])
    return err


@dataclass(frozen=True)
class EncoderRecipe:
    """What a worker needs to load the same encoder: the pinned checkpoint and the options that shape its space."""

    model_id: str
    revision: str | None
    modality: str | None
    pooling: str | None
    layer: int
    max_length: int | None
    trust_remote_code: bool = False

    @classmethod
    def of(cls, encoder) -> EncoderRecipe:
        ref = encoder.ref
        if not ref.model_id:
            raise EngineError("the encoder does not record its checkpoint (no model_id), so workers cannot load it; "
                              "fix: load it with Encoder.from_pretrained")
        local = Path(ref.model_id).exists()
        return cls(ref.model_id, None if local else ref.revision, ref.modality, ref.pooling,
                   ref.layer if ref.layer is not None else -1, encoder.max_length,
                   bool(getattr(encoder, "trust_remote_code", False)))

    def load(self):
        """The encoder, checked to live in the space the driver's does (same pinned revision, width, pooling)."""
        from ..encoders.encoder import Encoder

        encoder = Encoder.from_pretrained(self.model_id, revision=self.revision, modality=self.modality,
                                          pooling=self.pooling, layer=self.layer,
                                          trust_remote_code=self.trust_remote_code)
        encoder.max_length = self.max_length
        if self.revision and encoder.ref.revision != self.revision:
            raise EngineError(f"a worker loaded {self.model_id} at {encoder.ref.revision}, the driver at "
                              f"{self.revision}; expected the same commit on every node; fix: pin the revision")
        return encoder
