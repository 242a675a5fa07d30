"""Shared pytest set-up: each fixture family lives in its own module under tests/fixtures."""

pytest_plugins = [
    "tests.fixtures.database",
    "tests.fixtures.documents",
    "tests.fixtures.ray_cluster",
    "tests.fixtures.netns",
    "tests.fixtures.chaos",
]
