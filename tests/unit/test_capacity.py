"""The driver's page window against the OCR replicas' autoscaling target: Serve must ask for
one replica per WORKER_THREADS CPUs, however many nodes join."""

from __future__ import annotations

import math

import pytest

from kairo_ray.app.tasks import page_window, pages_in_flight
from kairo_ray.settings import Settings


def test_one_page_per_engine_plus_one_ready_for_every_two() -> None:
    assert [pages_in_flight(engines) for engines in (1, 2, 3, 4, 8)] == [2, 3, 4, 6, 12]


@pytest.mark.parametrize(
    ("worker_threads", "threads_per_engine", "cpus_per_node"),
    [(2, None, 2), (2, 1, 2), (4, None, 4), (4, 1, 4), (2, None, 4), (5, 2, 5), (2, None, 3)],
)
def test_serve_asks_for_one_replica_per_worker_threads_cpus(
    worker_threads: int, threads_per_engine: int | None, cpus_per_node: int
) -> None:
    """Serve wants ceil(pages in flight / target) replicas (the builder's target); for 1 to 8
    nodes that must be exactly the replicas the nodes' CPUs can hold."""
    settings = Settings(
        _env_file=None,  # type: ignore[call-arg]
        worker_threads=worker_threads,
        ocr_threads_per_engine=threads_per_engine,
    )
    target = pages_in_flight(settings.ocr_engines_per_replica)
    for nodes in range(1, 9):
        cpus = nodes * cpus_per_node
        placeable = max(1, cpus // worker_threads)
        assert math.ceil(page_window(cpus, settings) / target) == placeable, nodes
