"""The per-page Ray task: render one page where the task runs, then OCR it on a Serve replica.

The file's bytes travel once per node through the object store; each task renders only its own
page, so rendering spreads over the cluster as well as OCR. ``SPREAD`` scheduling puts the pages of
one document on every node, and Ray re-runs a task whose node died (``max_retries``).
"""

from __future__ import annotations

import os
import time
from typing import Any

import ray
from ray.serve.handle import DeploymentHandle

from kairo_ray.models import PageResult
from kairo_ray.processing.render import open_document
from kairo_ray.settings import load_settings

PAGE_TASK_RETRIES = 3


@ray.remote(num_cpus=0, max_retries=PAGE_TASK_RETRIES, scheduling_strategy="SPREAD")
def process_page(data: bytes, page_number: int, ocr: DeploymentHandle) -> dict[str, Any]:
    """Text of one page: its PDF text layer when good, else OCR through the deployment.

    Returns the :class:`PageResult` with where and when it ran, so the driver can record and show
    that pages of one document ran side by side on several nodes.
    """
    started = time.time()
    settings = load_settings()
    with open_document(data, settings) as document:
        text = document.text_layer(page_number)
        image = None if text is not None else document.render_page(page_number)
    if image is None:
        page = PageResult(page_number=page_number, text=text or "", source="text_layer")
    else:
        page = ocr.recognize.remote(image, page_number).result()
    ended = time.time()
    page.seconds = ended - started
    return {
        "page": page,
        "node_id": ray.get_runtime_context().get_node_id(),
        "pid": os.getpid(),
        "started": started,
        "ended": ended,
    }
