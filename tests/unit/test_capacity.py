"""How many pages the driver keeps in flight, and the OCR replicas' autoscaling target."""

from __future__ import annotations

from kairo_ray.app.tasks import pages_in_flight


def test_one_page_per_engine_plus_one_ready_for_every_two() -> None:
    assert [pages_in_flight(engines) for engines in (1, 2, 3, 4, 8)] == [2, 3, 4, 6, 12]


def test_a_joining_node_pushes_one_replica_past_its_target() -> None:
    """With one engine per replica (the default) or one per core: on one node the driver's pages
    fit the replica's target (no replica is asked for that no node could place); a second
    node's pages exceed it, so Serve adds a replica there."""
    for engines_per_node in (1, 2):
        target = pages_in_flight(engines_per_node)
        assert pages_in_flight(engines_per_node) <= target
        assert pages_in_flight(2 * engines_per_node) > target
        assert pages_in_flight(2 * engines_per_node) <= 2 * target
