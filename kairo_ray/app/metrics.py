"""Our own metrics, exported through Ray's Prometheus endpoint and shown on the dashboard.

Each actor builds one :class:`Metrics`; Ray aggregates the series across processes and nodes.
"""

from __future__ import annotations

from ray.util.metrics import Counter, Gauge, Histogram

_SECONDS_BOUNDARIES = [0.05, 0.1, 0.25, 0.5, 1, 2, 3, 5, 8, 13, 21, 34, 60, 120, 300]


class Metrics:
    def __init__(self) -> None:
        self.pages_processed = Counter(
            "kairo_pages_processed",
            description="Pages turned into text, by source (ocr or text_layer).",
            tag_keys=("source",),
        )
        self.page_seconds = Histogram(
            "kairo_page_ocr_seconds",
            description="Render plus OCR time of one page, seen by the page task.",
            boundaries=_SECONDS_BOUNDARIES,
        )
        self.queue_depth = Gauge(
            "kairo_queue_depth", description="Jobs waiting in ocr_queue (status queued)."
        )
        self.jobs_in_flight = Gauge(
            "kairo_jobs_in_flight", description="Jobs this cluster's driver holds right now."
        )
        self.jobs_finished = Counter(
            "kairo_jobs_finished",
            description="Jobs ended by the driver, by outcome (completed, retry, failed, lost).",
            tag_keys=("outcome",),
        )
        self.job_seconds = Histogram(
            "kairo_job_seconds",
            description="Claim to completion of one document.",
            boundaries=_SECONDS_BOUNDARIES,
        )
        self.embedding_seconds = Histogram(
            "kairo_embedding_seconds",
            description="Time to embed one batch of chunks in the embedding deployment.",
            boundaries=_SECONDS_BOUNDARIES,
        )
