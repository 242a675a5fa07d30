"""OCR with the real models on real scans (../shared/eval), scored by CER, for both production
engines: PP-OCRv6 on ONNX Runtime (onnx, the default) and PP-OCRv5 on PaddleOCR (paddle).

A representative subset keeps this suite to a few minutes on 2 cores; the benchmark
(benchmarks/ocr_benchmark.py) scores every eval page. Thresholds sit a little above the CER
measured on this machine (see benchmarks/reports/ocr.md), so a regression fails.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from kairo_ray.processing.evaluation import cer, eval_items, normalize_for_cer, score_item, set_cer
from kairo_ray.processing.ocr import OcrEngine, OcrOptions, get_engine
from kairo_ray.processing.pipeline import process_document
from kairo_ray.settings import Settings

pytestmark = pytest.mark.slow

FONDUE_SUBSET = (
    "es_fondue_print19/aquiles_sioen_buenos_aires_en_el__Buenos_Aires_en_el_ano_2080_p19.png",
    "es_fondue_print19/juan_egana_progresos_de_la_civilizacion__ocios_filosoficos_y_poeticos_IxE4BCu_p80.png",
    "es_fondue_print19/pardo_bazan_de_mi_tierra__pardo_bazan_de_mi_tierra_11.jpg",
)


@pytest.fixture(scope="session")
def settings() -> Settings:
    return Settings(_env_file=None)  # type: ignore[call-arg]


@pytest.fixture(scope="session", params=["onnx", "paddle"])
def engine(request: pytest.FixtureRequest, settings: Settings) -> Iterator[OcrEngine]:
    """Both production engines meet the same thresholds: onnx (the default) and paddle."""
    built = get_engine(request.param, OcrOptions.from_settings(settings))
    yield built
    built.close()


def _item(eval_dir: Path, file: str) -> dict:
    return next(item for item in eval_items(eval_dir) if item["file"] == file)


def test_clean_test_pages(engine: OcrEngine, eval_dir: Path, settings: Settings) -> None:
    photo = score_item(
        engine, _item(eval_dir, "en_tesseract_testing/phototest.tif"), eval_dir, settings
    )
    assert photo[0].cer is not None and photo[0].cer <= 0.01
    euro = score_item(
        engine, _item(eval_dir, "en_tesseract_testing/eurotext.tif"), eval_dir, settings
    )
    assert euro[0].cer is not None and euro[0].cer <= 0.035


def test_g4_magazine_page_zones(engine: OcrEngine, eval_dir: Path, settings: Settings) -> None:
    """Ground truth covers only the .uzn zones: each zone is cropped and read on its own."""
    item = _item(eval_dir, "en_tesseract_testing/8087_054.3B.tif")
    scores = score_item(engine, item, eval_dir, settings)
    assert scores[0].cer is not None and scores[0].cer <= 0.03, scores[0].text[:500]


def test_fondue_page_images(engine: OcrEngine, eval_dir: Path, settings: Settings) -> None:
    scores = [
        s for f in FONDUE_SUBSET for s in score_item(engine, _item(eval_dir, f), eval_dir, settings)
    ]
    for score in scores:
        assert score.cer is not None and score.cer <= 0.05, (score.file, score.cer)
    overall = set_cer(scores)
    assert overall is not None and overall <= 0.035
    # Spanish letters on a clean print (Sioen 1879): every ñ and accent of the ground truth.
    sioen = scores[0]
    truth = normalize_for_cer(
        (eval_dir / FONDUE_SUBSET[0].replace(".png", ".gt.txt")).read_text(encoding="utf-8")
    )
    text = normalize_for_cer(sioen.text)
    assert truth.count("ñ") == 3 and text.count("ñ") == 3
    accents = sum(truth.count(ch) for ch in "áéíóú")
    assert sum(text.count(ch) for ch in "áéíóú") >= 0.9 * accents >= 9


def test_multipage_pdf_through_pipeline(
    engine: OcrEngine, eval_dir: Path, settings: Settings
) -> None:
    """The 5-page Spanish PDF, every stage but embedding, each page against its own GT."""
    item = _item(eval_dir, "multipage_pdfs/fondue_galdos_luchana_5p.pdf")
    result = process_document(eval_dir / item["file"], settings, engine)
    assert result.kind == "pdf" and len(result.pages) == 5
    assert result.language == "es"
    references = [(eval_dir / p).read_text(encoding="utf-8") for p in item["page_gt"]]
    rates = []
    for page, reference in zip(result.pages, references, strict=True):
        assert page.source == "ocr" and page.rotation == 0
        assert (page.width, page.height) in {(1270, 2145), (1270, 2134), (1247, 2145), (1276, 2145)}
        assert page.lines and all(0 <= line.confidence <= 1 for line in page.lines)
        for line in page.lines:
            x0, y0, x1, y1 = line.box
            assert 0 <= x0 < x1 <= page.width and 0 <= y0 < y1 <= page.height
        rates.append(cer(page.text, reference))
    assert max(rates) <= 0.06, rates
    assert float(np.mean(rates)) <= 0.04, rates
    assert "LUCHANA" in result.pages[0].text
    # Diacritics on this 1898 print are small: PP-OCRv5 keeps ~45 % of its accents and few of
    # its ñ at any DPI (measured 200/250/300: 67-75 of 144 accents, 2-3 of 13 ñ). They are there.
    text, truth = normalize_for_cer(result.text), normalize_for_cer("\n".join(references))
    accents = sum(text.count(ch) for ch in "áéíóú")
    assert accents >= 0.35 * sum(truth.count(ch) for ch in "áéíóú")
    assert text.count("ñ") >= 1
    assert result.text == "\n\n".join(page.text for page in result.pages)


def test_rotated_pages_are_read_upright(
    engine: OcrEngine, eval_dir: Path, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """ocrmypdf_cardinal.pdf: the same page at 0/90/180/270°. Upright costs one pass."""
    passes: list[int] = []
    original = engine._read

    def counting(image: np.ndarray) -> list:
        passes[-1] += 1
        return original(image)

    monkeypatch.setattr(engine, "_read", counting)
    item = _item(eval_dir, "multipage_pdfs/ocrmypdf_cardinal.pdf")
    reference = (eval_dir / item["page_gt"][0]).read_text(encoding="utf-8")
    from kairo_ray.processing.render import open_document

    rotations, rates = [], []
    with open_document(eval_dir / item["file"], settings) as document:
        for number in range(1, 5):
            passes.append(0)
            page = engine.recognize(document.render_page(number), number)
            rotations.append(page.rotation)
            rates.append(cer(page.text, reference))
            assert (page.width, page.height) == (1700, 2200), "boxes are in the upright frame"
    assert rotations == [0, 270, 180, 90]
    assert passes == [1, 2, 2, 2]
    assert max(rates) <= 0.08, rates  # the GT is itself machine OCR: approximate


def test_tesseract_peer(eval_dir: Path, settings: Settings) -> None:
    engine = get_engine("tesseract", OcrOptions.from_settings(settings))
    scores = score_item(
        engine, _item(eval_dir, "en_tesseract_testing/phototest.tif"), eval_dir, settings
    )
    assert scores[0].cer is not None and scores[0].cer <= 0.05
    assert re.search(r"quick brown dog", scores[0].text)


def test_text_layer_page_skips_ocr(
    engine: OcrEngine, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.unit.test_render import SENTENCE, build_pdf, text_pdf

    def no_ocr(*args: object) -> None:
        raise AssertionError("OCR must not run on a page with a good text layer")

    monkeypatch.setattr(engine, "recognize", no_ocr)
    data = build_pdf(text_pdf([SENTENCE, SENTENCE]))
    result = process_document(data, settings, engine)
    assert result.pages[0].source == "text_layer"
    assert result.pages[0].text.startswith("Informe anual")
    assert result.language == "es"


def test_huge_scan_page_is_read(engine: OcrEngine, eval_dir: Path, settings: Settings) -> None:
    """ocrmypdf_multipage.pdf page 2: a 9000×9000 px scan on a 30-inch page (no ground truth)."""
    from kairo_ray.processing.render import open_document

    with open_document(eval_dir / "multipage_pdfs/ocrmypdf_multipage.pdf", settings) as document:
        image = document.render_page(2)
    assert image.shape[0] * image.shape[1] <= settings.max_page_pixels
    page = engine.recognize(image, 2)
    assert page.rotation == 0 and (page.width, page.height) == (image.shape[1], image.shape[0])
    assert page.text == "9000x9000 pixels at 300 DPI\n81 megapixels"


def test_onnx_engine_loads_its_models_when_built() -> None:
    """A replica is healthy only with its models loaded: RapidOCR would otherwise build its
    sessions on the first page."""
    engine = get_engine("onnx", OcrOptions())
    assert engine._ocr.text_det is not None and engine._ocr.text_rec is not None


def test_onnx_engine_sessions_run_without_memory_pattern() -> None:
    """RapidOCR's sessions are rebuilt with ONNX Runtime's memory pattern off (it kept about twice
    the memory after a page), keeping the engine's threads and RapidOCR's other options."""
    engine = get_engine("onnx", OcrOptions(cpu_threads=1))
    for model in (engine._ocr.text_det, engine._ocr.text_rec):
        options = model.session.session.get_session_options()
        assert not options.enable_mem_pattern
        assert not options.enable_cpu_mem_arena
        assert options.intra_op_num_threads == 1


def test_onnx_engine_refuses_models_it_cannot_use_offline(tmp_path: Path) -> None:
    paddle_folder = tmp_path / "PP-OCRv5_mobile_det"
    paddle_folder.mkdir()
    (paddle_folder / "inference.yml").write_text("Global: {}\n")
    with pytest.raises(RuntimeError, match="PaddlePaddle model folder: set OCR_ENGINE=paddle"):
        get_engine("onnx", OcrOptions(det_model_dir=paddle_folder))
    # A recognition model without its dictionary would make RapidOCR download one.
    import rapidocr

    no_dictionary = (
        Path(rapidocr.__file__).parent / "models" / "ch_ppocr_mobile_v2.0_cls_mobile.onnx"
    )
    with pytest.raises(RuntimeError, match="no 'character' metadata"):
        get_engine("onnx", OcrOptions(rec_model_dir=no_dictionary))
