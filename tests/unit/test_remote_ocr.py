"""The page task's OCR call to a replica that dies under it (no Ray: a fake handle)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from ray.exceptions import ActorDiedError

from kairo_ray.app.engines import OCR_REPLICA_RETRIES, RemoteOcr
from kairo_ray.models import PageResult


class Handle:
    """A deployment handle whose first ``deaths`` calls find their replica dead."""

    def __init__(self, deaths: int) -> None:
        self.deaths = deaths
        self.calls = 0
        self.recognize = self

    def remote(self, image: Any, page_number: int) -> Handle:
        self.calls += 1
        self.page_number = page_number
        return self

    def result(self) -> PageResult:
        if self.deaths:
            self.deaths -= 1
            raise ActorDiedError()
        return PageResult(page_number=self.page_number, text="hola", seconds=0.5)


def test_a_page_is_sent_again_when_its_replica_dies() -> None:
    handle = Handle(deaths=OCR_REPLICA_RETRIES)
    ocr = RemoteOcr(handle)  # type: ignore[arg-type]
    page = ocr.recognize(np.zeros((4, 4), np.uint8), 3)
    assert (page.page_number, page.text, ocr.engine_seconds) == (3, "hola", 0.5)
    assert handle.calls == OCR_REPLICA_RETRIES + 1


def test_a_page_that_kills_every_replica_still_fails() -> None:
    handle = Handle(deaths=OCR_REPLICA_RETRIES + 1)
    with pytest.raises(ActorDiedError):
        RemoteOcr(handle).recognize(np.zeros((4, 4), np.uint8), 1)  # type: ignore[arg-type]
    assert handle.calls == OCR_REPLICA_RETRIES + 1
