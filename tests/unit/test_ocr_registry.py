"""The OCR package's shape without loading a model: the engine registry, the options of each
engine and their conversion, the shared orientation logic, and which module imports which."""

from __future__ import annotations

import ast
import shutil
from pathlib import Path
from typing import Literal

import numpy as np
import pytest
from pydantic import ConfigDict, TypeAdapter, ValidationError

from kairo_ray.errors import ConfigError
from kairo_ray.processing import ocr
from kairo_ray.processing.ocr import (
    ENGINES,
    AnyOcrOptions,
    OcrEngine,
    OcrOptions,
    OnnxOcrOptions,
    PaddleOcrOptions,
    TesseractOcrOptions,
    available_engines,
    get_engine,
    register_engine,
)
from kairo_ray.processing.ocr.base import _Line
from kairo_ray.settings import Settings

PACKAGE = Path(ocr.__file__).parent
SHARED = (
    "det_limit_type",
    "det_limit_side_len",
    "cpu_threads",
    "device",
    "rec_batch_size",
    "languages",
    "auto_rotate",
    "orientation_min_confidence",
    "min_line_confidence",
)


def test_unknown_engine_is_a_config_error_listing_the_engines() -> None:
    assert available_engines() == ["onnx", "paddle", "tesseract"]
    with pytest.raises(
        ConfigError, match=r"unknown OCR engine 'paddleocr' \(OCR_ENGINE\); available: onnx, "
    ) as raised:
        get_engine("paddleocr")
    assert str(raised.value).endswith("available: onnx, paddle, tesseract")
    assert isinstance(raised.value, ValueError)


@pytest.mark.parametrize(
    ("kind", "own_class"),
    [("onnx", OnnxOcrOptions), ("paddle", PaddleOcrOptions), ("tesseract", TesseractOcrOptions)],
)
def test_options_from_settings_are_the_engines_own(
    kind: str, own_class: type[OcrOptions], tmp_path: Path
) -> None:
    settings = Settings(  # type: ignore[call-arg]
        _env_file=None,
        ocr_engine=kind,
        ocr_det_model_dir=tmp_path / "det",
        ocr_rec_model_dir=tmp_path / "rec",
        ocr_det_limit_side_len=960,
        ocr_batch_size=8,
        ocr_use_gpu=True,
        ocr_language="en",
        worker_threads=4,
    )
    options = OcrOptions.from_settings(settings)
    assert type(options) is own_class and options.kind == kind
    assert (options.det_limit_side_len, options.rec_batch_size) == (960, 8)
    assert (options.cpu_threads, options.device, options.languages) == (4, "auto", ["en"])
    assert OcrOptions.from_settings(settings, threads=1).cpu_threads == 1
    fields = set(type(options).model_fields)
    assert ("max_side_len" in fields) == (kind == "onnx")
    assert ("enable_mkldnn" in fields) == ("det_model_name" in fields) == (kind == "paddle")
    assert ("det_model_dir" in fields) == (kind != "tesseract")
    if kind != "tesseract":
        assert options.det_model_dir == tmp_path / "det"  # type: ignore[attr-defined]
        assert options.rec_model_dir == tmp_path / "rec"  # type: ignore[attr-defined]
    assert not options.model_extra
    # On an engine's own class, that class whatever OCR_ENGINE says.
    assert type(OnnxOcrOptions.from_settings(settings)) is OnnxOcrOptions


def test_shared_options_hold_no_engines_fields() -> None:
    assert set(OcrOptions.model_fields) == {"kind", *SHARED}
    assert set(TesseractOcrOptions.model_fields) == {"kind", *SHARED}
    assert set(OnnxOcrOptions.model_fields) - set(OcrOptions.model_fields) == {
        "det_model_dir",
        "rec_model_dir",
        "max_side_len",
    }
    assert set(PaddleOcrOptions.model_fields) - set(OcrOptions.model_fields) == {
        "det_model_name",
        "rec_model_name",
        "det_model_dir",
        "rec_model_dir",
        "enable_mkldnn",
    }
    with pytest.raises(ValidationError, match="enable_mkldnn"):
        OnnxOcrOptions(enable_mkldnn=False)  # type: ignore[call-arg]
    chosen = TypeAdapter(AnyOcrOptions).validate_python({"kind": "paddle", "enable_mkldnn": False})
    assert isinstance(chosen, PaddleOcrOptions) and not chosen.enable_mkldnn


def test_unknown_engine_in_settings_keeps_shared_options() -> None:
    """The builder and get_engine refuse the name; building its options does not fail first."""
    settings = Settings(_env_file=None, ocr_engine="paddleocr")  # type: ignore[call-arg]
    options = OcrOptions.from_settings(settings)
    assert type(options) is OcrOptions and options.kind == "paddleocr"


def test_conversion_between_engines_keeps_the_shared_fields(tmp_path: Path) -> None:
    shared = {
        "det_limit_type": "max",
        "det_limit_side_len": 960,
        "cpu_threads": 3,
        "device": "auto",
        "rec_batch_size": 4,
        "languages": ["en"],
        "auto_rotate": False,
        "orientation_min_confidence": 0.6,
        "min_line_confidence": 0.5,
    }
    onnx = OnnxOcrOptions(**shared, det_model_dir=tmp_path, max_side_len=1500)
    assert OnnxOcrOptions.of(onnx) is onnx
    paddle = PaddleOcrOptions.of(onnx)
    assert paddle.kind == "paddle" and paddle.model_dump(include=set(shared)) == shared
    assert paddle.det_model_dir == tmp_path  # one OCR_DET_MODEL_DIR setting for either engine
    assert paddle.enable_mkldnn and paddle.det_model_name == "PP-OCRv5_mobile_det"
    tesseract = TesseractOcrOptions.of(paddle)
    assert tesseract.model_dump(include=set(shared)) == shared
    assert "det_model_dir" not in tesseract.model_dump()
    back = OnnxOcrOptions.of(tesseract)
    assert back.model_dump(include=set(shared)) == shared
    assert (back.det_model_dir, back.max_side_len) == (None, 2000)
    # The shared class keeps another engine's fields until that engine checks them.
    loose = OcrOptions(cpu_threads=1, det_model_dir=str(tmp_path))
    assert OnnxOcrOptions.of(loose).det_model_dir == tmp_path
    assert OnnxOcrOptions.of(loose).cpu_threads == 1
    with pytest.raises(ValidationError, match="max_side_len"):
        OnnxOcrOptions.of(OcrOptions(max_side_len=10))


class _FakeOptions(OcrOptions):
    model_config = ConfigDict(extra="forbid")

    kind: Literal["fake"] = "fake"
    sideways: bool = False


class _FakeEngine(OcrEngine):
    """Reads one line; a sideways page shows vertical boxes until turned a quarter."""

    name = "fake"
    options_class = _FakeOptions
    options: _FakeOptions

    def __init__(self, options: OcrOptions) -> None:
        super().__init__(options)
        self.shapes: list[tuple[int, ...]] = []

    def _read(self, image: np.ndarray) -> list[_Line]:
        self.shapes.append(image.shape)
        vertical = self.options.sideways and len(self.shapes) == 1
        box = (0.0, 0.0, 10.0, 80.0) if vertical else (0.0, 0.0, 80.0, 10.0)
        return [_Line("Informe anual", box, 0.95, vertical)]


def test_a_registered_engine_is_built_by_get_engine(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ENGINES, "_factories", dict(ENGINES._factories))
    register_engine("fake", _FakeEngine)
    assert available_engines() == ["fake", "onnx", "paddle", "tesseract"]
    settings = Settings(_env_file=None, worker_threads=3)  # type: ignore[call-arg]
    engine = get_engine("fake", OcrOptions.from_settings(settings))  # options built for onnx
    assert isinstance(engine, _FakeEngine) and type(engine.options) is _FakeOptions
    assert engine.options.cpu_threads == 3
    image = np.zeros((40, 30, 3), dtype=np.uint8)
    page = engine.recognize(image, 7)
    assert (page.page_number, page.text, page.rotation) == (7, "Informe anual", 0)
    assert len(engine.shapes) == 1  # a confident upright page: one pass
    sideways = get_engine("fake", OcrOptions(sideways=True))
    page = sideways.recognize(image, 1)
    assert page.rotation == 270 and (page.width, page.height) == (40, 30)
    assert sideways.shapes == [(40, 30, 3), (30, 40, 3)]
    get_engine("fake").close()


@pytest.mark.skipif(shutil.which("tesseract") is None, reason="tesseract is not installed")
def test_tesseract_takes_options_built_for_the_default_engine() -> None:
    """``kairo-ray ocr --engine tesseract`` with OCR_ENGINE=onnx."""
    settings = Settings(_env_file=None, ocr_engine="onnx", ocr_language="en")  # type: ignore[call-arg]
    engine = get_engine("tesseract", OcrOptions.from_settings(settings, threads=1))
    assert type(engine.options) is TesseractOcrOptions
    assert engine.options.cpu_threads == 1 and engine.languages == "eng"  # type: ignore[attr-defined]


def _package_imports(path: Path) -> set[str]:
    """The modules of this package that ``path`` imports (absolute or relative)."""
    prefix = "kairo_ray.processing.ocr"
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: resolve against this package
                base = prefix if node.level == 1 else prefix.rsplit(".", node.level - 1)[0]
                module = f"{base}.{node.module}" if node.module else base
            else:
                module = node.module or ""
            names = [module] + [f"{module}.{alias.name}" for alias in node.names]
            if module == prefix:  # "from kairo_ray.processing.ocr import x" runs the registry
                found.add("__init__")
        else:
            continue
        for name in names:
            if name == prefix:
                found.add("__init__")
            elif name.startswith(prefix + "."):
                found.add(name[len(prefix) + 1 :].split(".")[0])
    return found


def test_engines_import_only_the_shared_modules() -> None:
    """An engine module stands alone: it never imports the registry or a sibling engine, so an
    engine can be added or removed without touching the others."""
    modules = {path.stem: path for path in PACKAGE.glob("*.py")}
    assert {"base", "text", "memory", "onnx", "paddle", "tesseract", "registry"} <= set(modules)
    helpers = {"base", "text", "memory"}
    for name, path in modules.items():
        if name in {"__init__", "registry"}:
            continue
        imported = _package_imports(path)
        assert imported <= helpers, (name, imported - helpers)
    assert _package_imports(modules["text"]) == set()
    assert _package_imports(modules["memory"]) == set()
    assert _package_imports(modules["base"]) <= {"memory"}
    assert _package_imports(modules["registry"]) == {"base", "onnx", "paddle", "tesseract"}
