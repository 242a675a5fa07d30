"""The names the application is found by on a cluster: the API, the CLI and ``control`` import
these, not the driver module (which would import Ray actors and the whole pipeline)."""

APP_NAME = "kairo"
"""The Serve application (deployments ``ocr``, ``embedder``, ``api``)."""

NAMESPACE = "kairo"
"""Ray namespace of the driver actor and of every client that looks it up."""

DRIVER_NAME = "kairo-driver"
"""The one detached queue driver actor per cluster."""

OPENER_NAME = "kairo-opener"
"""The detached actor that opens documents and counts their pages (``app.tasks``)."""
