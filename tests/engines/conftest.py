"""One real local Ray cluster for the whole test run (127.0.0.1, a bounded number of logical CPUs)."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def ray_address():
    """Start a Ray head in this process (two workers + one feeding task fit in 3 logical CPUs) and stop it at the
    end of the session; yields the address that `--ray-address` (CLI subprocesses) joins."""
    import ray

    ray.init(num_cpus=3, _node_ip_address="127.0.0.1", include_dashboard=False, configure_logging=False,
             log_to_driver=False)
    try:
        yield ray.get_runtime_context().gcs_address
    finally:
        ray.shutdown()
