"""One real local Ray cluster for the Ray tests (127.0.0.1, a bounded number of logical CPUs), stopped when they
are done: its idle daemons would otherwise take a quarter of a core from the rest of the suite."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="module")
def ray_address():
    """Start a Ray head in this process (two workers + one feeding task fit in 3 logical CPUs) and stop it after the
    module (the Ray tests are one module: one cluster per run); yields the address `--ray-address` joins."""
    import ray

    ray.init(num_cpus=3, _node_ip_address="127.0.0.1", include_dashboard=False, configure_logging=False,
             log_to_driver=False)
    try:
        yield ray.get_runtime_context().gcs_address
    finally:
        ray.shutdown()
