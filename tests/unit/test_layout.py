"""The layout stage's geometry without models: table rows and columns from line boxes, regions
and lines to blocks, the reading order of blocks, structured chunks, blank pages."""

from __future__ import annotations

import numpy as np
import pytest

from kairo_ray.errors import ConfigError
from kairo_ray.models import OcrLine, OcrWord, PageResult
from kairo_ray.processing.chunk import chunk_pages
from kairo_ray.processing.layout import (
    LayoutOptions,
    PageReader,
    Region,
    build_blocks,
    get_layout_engine,
    markdown_table,
    table_rows,
)
from kairo_ray.processing.layout.ruling import find_grids, grid_rows
from kairo_ray.processing.layout.tables import find_tables
from kairo_ray.processing.render import has_ink

H = 40  # line box height in the synthetic pages


def line(text: str, x0: float, y0: float, x1: float | None = None, height: float = H) -> OcrLine:
    right = x1 if x1 is not None else x0 + 14 * len(text)
    return OcrLine(text=text, box=(x0, y0, right, y0 + height), confidence=0.95)


def invoice_table(top: float = 600) -> list[OcrLine]:
    """Borderless, numbers right-aligned, a wrapped description, totals in the right columns."""
    y = top
    rows = [
        line("Concepto", 150, y),
        line("Cantidad", 800, y),
        line("Precio", 1000, y),
        line("Importe", 1300, y),
    ]
    y += 55
    rows += [
        line("Reparación de tejas rotas", 150, y),
        line("38 m²", 850, y),
        line("24,50 €", 1050, y),
        line("931,00 €", 1350, y),
    ]
    y += 44  # the wrapped line follows as closely as the next row does
    rows += [line("(teja árabe)", 150, y)]
    y += 55
    rows += [
        line("Canalón de zinc", 150, y),
        line("14 ml", 850, y),
        line("31,20 €", 1050, y),
        line("436,80 €", 1350, y),
    ]
    y += 80
    rows += [line("Base imponible", 1000, y, 1240), line("1.367,80 €", 1330, y)]
    return rows


def test_table_rows_borderless_with_wrapped_cell_and_totals() -> None:
    assert table_rows(invoice_table()) == [
        ["Concepto", "Cantidad", "Precio", "Importe"],
        ["Reparación de tejas rotas (teja árabe)", "38 m²", "24,50 €", "931,00 €"],
        ["Canalón de zinc", "14 ml", "31,20 €", "436,80 €"],
        ["", "", "Base imponible", "1.367,80 €"],
    ]


def test_a_description_only_line_far_below_is_a_row_of_its_own() -> None:
    lines = invoice_table()
    lines.append(line("Nota al pie de la tabla", 150, lines[-1].box[3] + 3 * H))
    assert table_rows(lines)[-1] == ["Nota al pie de la tabla", "", "", ""]


def test_markdown_table_escapes_pipes() -> None:
    assert markdown_table([["a", "b"], ["1|2", ""]]) == "| a | b |\n| --- | --- |\n| 1\\|2 |  |"


def page_of(lines: list[OcrLine]) -> PageResult:
    return PageResult(page_number=1, text="", lines=lines, width=1654, height=2339)


def test_blocks_title_table_and_loose_text_in_reading_order() -> None:
    title = line("FACTURA", 150, 150, height=1.6 * H)  # headings are set larger
    sender = [line("Tejados Ruiz, S.L.", 150, 300), line("C/ Industria 8", 150, 345)]
    number = [line("Factura nº 187", 1100, 300)]
    table = invoice_table(700)
    footer = line("Página 1 de 2", 760, 2250)
    regions = [
        Region("title", (140, 140, 400, 220), 0.9),
        Region("header", (140, 140, 400, 220), 0.7),  # same box: the title wins
        Region("table", (140, 750, 1500, 900), 0.8),  # crops the header and totals rows
        Region("footer", (700, 2240, 1000, 2300), 0.8),
    ]
    page = build_blocks(page_of([title, *sender, *number, *table, footer]), regions)
    kinds = [b.type for b in page.blocks]
    assert kinds == ["title", "text", "text", "table", "footer"]
    assert [b.order for b in page.blocks] == list(range(5))
    table_block = page.blocks[3]
    assert table_block.rows is not None and table_block.rows[0][0] == "Concepto"
    assert table_block.rows[-1] == ["", "", "Base imponible", "1.367,80 €"]
    assert page.text.startswith("# FACTURA\n\nTejados Ruiz, S.L.\nC/ Industria 8\n\nFactura nº 187")
    assert "| Canalón de zinc | 14 ml | 31,20 € | 436,80 € |" in page.text
    assert page.text.endswith("Página 1 de 2")


def test_a_head_in_the_middle_of_the_page_is_body_text() -> None:
    page = build_blocks(
        page_of([line("Cláusula primera", 150, 1200)]),
        [Region("header", (140, 1190, 700, 1250), 0.9)],
    )
    assert [b.type for b in page.blocks] == ["text"]


def test_a_one_column_table_is_text() -> None:
    lines = [line("uno", 150, 600), line("dos", 150, 660)]
    page = build_blocks(page_of(lines), [Region("table", (140, 590, 500, 720), 0.9)])
    assert [b.type for b in page.blocks] == ["text"]
    assert page.blocks[0].rows is None


def test_blocks_of_two_columns_read_one_column_after_the_other() -> None:
    """Blocks follow the OCR's reading order (XY-cut over the lines), so the left column's
    paragraphs come before the right column's even where their breaks line up."""
    from kairo_ray.processing.ocr.base import _Line, compose_page

    raw = [_Line("TÍTULO DEL ARTÍCULO", (100, 100, 900, 160), 0.9)]
    for column, x0 in (("izquierda", 100), ("derecha", 860)):
        for n in range(8):
            y = 220 + n * 50 + (40 if n >= 4 else 0)  # a paragraph break after four lines
            raw.append(
                _Line(f"línea {n} de la columna {column} con texto", (x0, y, x0 + 700, y + H), 0.9)
            )
    page = compose_page(raw, 1, 1654, 2339, 0, 0.0)
    regions = [
        Region("title", (90, 90, 910, 170), 0.9),
        Region("text", (90, 210, 810, 420), 0.9),
        Region("text", (90, 450, 810, 650), 0.9),
        Region("text", (810, 210, 1530, 420), 0.9),
        Region("text", (810, 450, 1530, 650), 0.9),
    ]
    blocks = build_blocks(page, regions).blocks
    assert [b.type for b in blocks] == ["title", "text", "text", "text", "text"]
    assert ["izquierda" in b.text for b in blocks[1:]] == [True, True, False, False]
    assert blocks[1].text.startswith("línea 0") and blocks[3].text.startswith("línea 0")


def test_structured_chunks_split_tables_between_rows_with_the_header_repeated() -> None:
    rows = [["Concepto", "Importe"]] + [[f"Partida número {n}", f"{n},00 €"] for n in range(40)]
    table = markdown_table(rows)
    page = PageResult(page_number=1, text="", lines=[line("x", 0, 0)], width=100, height=100)
    from kairo_ray.models import Block

    blocks = [
        Block(type="header", box=(0, 0, 1, 1), text="ACME · página 1", order=0),
        Block(type="title", box=(0, 0, 1, 1), text="FACTURA", order=1),
        Block(type="text", box=(0, 0, 1, 1), text="Cliente: Comunidad Mayor 12", order=2),
        Block(type="table", box=(0, 0, 1, 1), text=table, order=3, rows=rows),
        Block(type="title", box=(0, 0, 1, 1), text="Condiciones", order=4),
        Block(type="text", box=(0, 0, 1, 1), text="Pago a 30 días.", order=5),
        Block(type="footer", box=(0, 0, 1, 1), text="1", order=6),
    ]
    text = "\n\n".join(
        [
            "ACME · página 1",
            "# FACTURA",
            "Cliente: Comunidad Mayor 12",
            table,
            "# Condiciones",
            "Pago a 30 días.",
            "1",
        ]
    )
    page = page.model_copy(update={"text": text, "blocks": blocks})
    chunks = chunk_pages([page], 400, 40)
    assert all("ACME" not in c.text for c in chunks)
    assert chunks[0].text.startswith("# FACTURA\n\nCliente")
    table_chunks = [c for c in chunks if "Partida" in c.text]
    assert len(table_chunks) >= 3
    for chunk in table_chunks:
        table_lines = [row for row in chunk.text.split("\n") if row.startswith("|")]
        assert table_lines[:2] == ["| Concepto | Importe |", "| --- | --- |"]
        assert len(chunk.text) <= 400
    found = [r for c in table_chunks for r in c.text.split("\n") if "Partida" in r]
    assert found == [f"| Partida número {n} | {n},00 € |" for n in range(40)]
    assert chunks[-1].text == "# Condiciones\n\nPago a 30 días."
    for chunk in chunks:
        assert chunk.char_start < chunk.char_end <= len(text)


def test_has_ink() -> None:
    paper = np.full((2339, 1654, 3), 236, dtype=np.uint8)
    rng = np.random.default_rng(0)
    noisy = np.clip(paper + rng.normal(0, 8, paper.shape), 0, 255).astype(np.uint8)
    assert not has_ink(noisy)
    noisy[1000:1030, 800:900] = 20  # a word
    assert has_ink(noisy)


def test_layout_registry() -> None:
    with pytest.raises(ConfigError, match="LAYOUT_ENGINE"):
        get_layout_engine("docling")
    engine = get_layout_engine("none", LayoutOptions())
    page = page_of([line("hola", 10, 10)])
    assert engine.analyze(page, np.zeros((10, 10, 3), np.uint8)) == page


def test_page_reader_hands_layout_the_page_as_ocr_turned_it() -> None:
    class Sideways:
        def recognize(self, image: np.ndarray, page_number: int) -> PageResult:
            return PageResult(
                page_number=page_number,
                text="x",
                lines=[line("x", 0, 0)],
                rotation=90,
                width=image.shape[0],
                height=image.shape[1],
            )

        def close(self) -> None: ...

    seen = []

    class Spy:
        def analyze(self, page: PageResult, image: np.ndarray) -> PageResult:
            seen.append(image.shape)
            return page

        def close(self) -> None: ...

    PageReader(Sideways(), Spy()).recognize(np.zeros((30, 20, 3), np.uint8), 1)  # type: ignore[arg-type]
    assert seen == [(20, 30, 3)]


def test_find_tables_from_geometry_alone() -> None:
    sender = [line("Tejados Ruiz, S.L.", 150, 300), line("Cliente: Comunidad", 1000, 300)]
    table = invoice_table(600)
    found = find_tables([*sender, *table])
    assert len(found) == 1
    _, y0, _, y1 = found[0]
    assert y0 >= 600 - 1 and y1 <= table[-1].box[3] + 1  # not the two side-by-side blocks


def test_a_ruled_grid_is_read_from_its_rules() -> None:
    image = np.full((800, 1200, 3), 245, dtype=np.uint8)
    xs, ys = [100, 500, 800, 1100], [100, 180, 260, 340]
    for x in xs:
        image[ys[0] : ys[-1] + 2, x : x + 2] = 30
    for y in ys:
        image[y : y + 2, xs[0] : xs[-1] + 2] = 30
    grids = find_grids(image)
    assert len(grids) == 1
    # "21 % 388,50 €" came as one OCR line across the rule at x=800: its words are split.
    words = [
        OcrWord(text="18,50", box=(700, 200, 780, 240)),
        OcrWord(text="€", box=(820, 200, 840, 240)),
    ]
    lines = [
        line("Concepto", 120, 120),
        line("Cantidad", 520, 120),
        line("Importe", 820, 120),
        line("Tejas", 120, 200),
        OcrLine(text="18,50 €", box=(700, 200, 840, 240), confidence=0.9, words=words),
        line("Canalón", 120, 280),
        line("4", 520, 280),
        line("31,20 €", 820, 280),
    ]
    assert grid_rows(lines, grids[0]) == [
        ["Concepto", "Cantidad", "Importe"],
        ["Tejas", "18,50", "€"],
        ["Canalón", "4", "31,20 €"],
    ]


def test_blocks_of_a_skewed_page_are_read_level() -> None:
    """Two wrapped description lines 1.5° askew: their axis-aligned boxes overlap, level ones
    do not, so the table keeps the wrapped line in its cell, not in the header row."""
    import math

    slope = math.tan(math.radians(1.5))

    def slanted(text: str, x0: float, y0: float, width: float) -> OcrLine:
        return OcrLine(text=text, box=(x0, y0, x0 + width, y0 + H + width * slope), confidence=0.9)

    lines = [
        slanted("Descripción", 150, 600, 300),
        slanted("Cant.", 1000, 600 + 850 * slope, 80),
        slanted("Importe", 1300, 600 + 1150 * slope, 120),
        slanted("Demolición de alicatado existente en cocina y", 150, 650, 820),
        slanted("baño, con retirada de escombros", 150, 695, 600),
        slanted("23,5", 1000, 650 + 850 * slope, 70),
        slanted("434,75 €", 1300, 650 + 1150 * slope, 130),
        slanted("Pintura plástica lisa", 150, 760, 380),
        slanted("27,5", 1000, 760 + 850 * slope, 70),
        slanted("269,50 €", 1300, 760 + 1150 * slope, 130),
    ]
    page = PageResult(page_number=1, text="", lines=lines, width=1654, height=2339, skew=1.5)
    tables = [b for b in build_blocks(page, []).blocks if b.type == "table"]
    assert len(tables) == 1 and tables[0].rows is not None
    assert tables[0].rows[0] == ["Descripción", "Cant.", "Importe"]
    assert tables[0].rows[1][0].startswith("Demolición") and "baño" in tables[0].rows[1][0]


def test_amounts_centred_in_their_rows_keep_the_text_above_and_below() -> None:
    """A word processor's vertically centred cells: the first half of a wrapped description is
    above its amounts, the second half below."""
    lines = [
        line("Concepto", 150, 600),
        line("Cantidad", 800, 600),
        line("Importe", 1300, 600),
        line("Reparación de tejas", 150, 660),
        line("38 m²", 850, 690),
        line("931,00 €", 1350, 690),
        line("rotas en cubierta", 150, 720),
        line("Canalón de zinc", 150, 790),
        line("14 ml", 850, 790),
        line("436,80 €", 1350, 790),
    ]
    assert table_rows(lines) == [
        ["Concepto", "Cantidad", "Importe"],
        ["Reparación de tejas rotas en cubierta", "38 m²", "931,00 €"],
        ["Canalón de zinc", "14 ml", "436,80 €"],
    ]
