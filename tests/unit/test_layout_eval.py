"""Layout eval set: table cell scoring, table matching, and the page generator (one page only)."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image, ImageDraw

from benchmarks.layout_eval import EvalPage, load_eval_set, scanned_box
from benchmarks.layout_eval.content import PAGE_SPECS, Table, build_page
from benchmarks.layout_eval.generate import write_eval_set
from benchmarks.layout_eval.score import (
    box_iou,
    cell_accuracy,
    cell_matches,
    cell_scores,
    cer,
    match_tables,
    total,
    unmatched_tables,
)
from kairo_ray.models import Block
from kairo_ray.processing import evaluation

# 4 rows x 4 columns, no two cells alike.
TRUTH = [
    ["Descripción", "Cant.", "Precio", "Importe"],
    ["Pintura plástica", "12", "9,80 €", "117,60 €"],
    ["Puerta de paso", "2", "295,00 €", "590,00 €"],
    ["Plato de ducha", "1", "865,00 €", "865,00 €"],
]


def _scores(predicted: list[list[str]]) -> tuple[int, int, int]:
    score = cell_scores(TRUTH, predicted)
    return score.correct, score.truth_cells, score.predicted_cells


def test_perfect_prediction_scores_one() -> None:
    assert cell_accuracy(TRUTH, TRUTH) == 1.0
    score = cell_scores(TRUTH, TRUTH)
    assert (score.recall, score.precision, score.f1) == (1.0, 1.0, 1.0)
    assert score.truth_shape == score.predicted_shape == (4, 4)


def test_swapped_rows_count_as_one_missing_and_one_extra_row() -> None:
    swapped = [TRUTH[0], TRUTH[2], TRUTH[1], TRUTH[3]]
    assert _scores(swapped) == (12, 16, 16)
    assert cell_accuracy(TRUTH, swapped) == pytest.approx(0.75)


def test_missing_row_costs_recall_only() -> None:
    score = cell_scores(TRUTH, [TRUTH[0], TRUTH[1], TRUTH[3]])
    assert (score.correct, score.recall, score.precision) == (12, 0.75, 1.0)
    assert score.f1 == pytest.approx(2 * 0.75 / 1.75)


def test_extra_row_costs_precision_only() -> None:
    score = cell_scores(TRUTH, [*TRUTH[:2], ["Sellado", "3", "4,00 €", "12,00 €"], *TRUTH[2:]])
    assert (score.correct, score.recall, score.precision) == (16, 1.0, 0.8)


def test_extra_empty_column_costs_precision_only() -> None:
    shifted = [["", *row] for row in TRUTH]  # every column shifted one to the right
    assert _scores(shifted) == (16, 16, 20)


def test_missing_column_costs_its_cells() -> None:
    assert _scores([[row[0], row[1], row[3]] for row in TRUTH]) == (12, 16, 12)


def test_cells_shifted_within_one_row_are_wrong() -> None:
    shifted_row = ["", *TRUTH[2][:3]]  # the row's cells one column right, its last lost
    assert _scores([TRUTH[0], TRUTH[1], shifted_row, TRUTH[3]]) == (12, 16, 16)


def test_merged_columns_lose_both() -> None:
    merged = [[row[0], f"{row[1]} {row[2]}", row[3]] for row in TRUTH]
    assert _scores(merged) == (8, 16, 12)
    assert cell_accuracy(TRUTH, merged) == pytest.approx(2 * 8 / (16 + 12))


def test_ocr_noise_within_cer_02_is_tolerated() -> None:
    assert cell_matches("1.785,78 €", "1.785,7B €")  # 1 edit in 10
    assert cell_matches("1.785,78 €", "1.785,7B 6")  # 2 in 10: CER 0.2
    assert not cell_matches("1.785,78 €", "1.7B5,7B 6")  # 3 in 10
    assert cell_matches("Descripción", "Descripcion")
    noisy = [TRUTH[0], ["Pintura plastica", "12", "9,8O €", "117,60 €"], *TRUTH[2:]]
    assert cell_accuracy(TRUTH, noisy) == 1.0


def test_case_and_whitespace_are_normalised() -> None:
    assert cell_matches("IVA 21 %", "iva  21 %")
    assert cell_matches("Suministro e\ninstalación", "SUMINISTRO E INSTALACIÓN")
    assert cell_matches("Cafe\u0301", "Café")  # NFC


def test_empty_truth_cells_need_empty_predictions() -> None:
    truth = [["Concepto", "Dto.", "Importe"], ["Tornillos", "", "14,30 €"]]
    assert cell_accuracy(truth, truth) == 1.0
    assert cell_scores(truth, [truth[0], ["Tornillos", "x", "14,30 €"]]).correct == 5
    assert cell_scores(truth, [truth[0], ["Tornillos", "10 %", "14,30 €"]]).correct == 5
    assert not cell_matches("14,30 €", "")
    assert cell_matches("", None)


def test_ragged_prediction_is_padded_with_empty_cells() -> None:
    truth = [["Concepto", "Dto.", "Importe"], ["Tornillos", "14,30 €", ""]]
    score = cell_scores(truth, [truth[0], ["Tornillos", "14,30 €"]])
    assert (score.correct, score.predicted_cells) == (6, 6)


def test_no_prediction_scores_zero() -> None:
    assert cell_accuracy(TRUTH, []) == 0.0
    assert cell_accuracy(TRUTH, None) == 0.0
    assert cell_scores(TRUTH, [[]]).correct == 0


def test_total_sums_cells_over_tables() -> None:
    summed = total([cell_scores(TRUTH, TRUTH), cell_scores(TRUTH, TRUTH[:2])])
    assert (summed.correct, summed.truth_cells, summed.predicted_cells) == (24, 32, 24)


def test_cer_is_the_repository_one() -> None:
    assert cer is evaluation.cer
    assert cer("FACTURA", "FACTURA") == 0.0


def test_box_iou() -> None:
    assert box_iou((0, 0, 10, 10), (0, 0, 10, 10)) == 1.0
    assert box_iou((0, 0, 10, 10), (5, 0, 15, 10)) == pytest.approx(50 / 150)
    assert box_iou((0, 0, 10, 10), (10, 0, 20, 10)) == 0.0


def test_match_tables_pairs_by_overlap_one_to_one() -> None:
    truth = [
        {"rows": TRUTH, "ruled": True, "box": [100, 100, 1500, 600]},
        {"rows": TRUTH[:2], "ruled": False, "box": [100, 700, 800, 900]},
        {"rows": TRUTH[2:], "ruled": False, "box": [100, 1000, 800, 1200]},
    ]
    blocks = [
        Block(type="title", box=(100, 20, 600, 80), text="FACTURA", order=0),
        Block(type="table", box=(110, 690, 790, 905), text="", order=1, rows=TRUTH[:2]),
        Block(type="table", box=(90, 95, 1510, 610), text="", order=2, rows=TRUTH[:3]),
        Block(type="table", box=(1200, 1500, 1500, 1700), text="", order=3, rows=[["x"]]),
        Block(type="text", box=(100, 1000, 800, 1200), text="not a table", order=4),
    ]
    first, second, third = match_tables(truth, blocks)
    assert (first.truth, first.predicted, second.predicted, third.predicted) == (0, 2, 1, None)
    assert first.cells.correct == 12 and first.iou > 0.9
    assert second.cells.f1 == 1.0
    assert (third.cells.correct, third.cells.f1, third.iou) == (0, 0.0, 0.0)
    assert unmatched_tables([first, second, third], blocks) == [3]


def test_match_tables_gives_each_block_to_one_truth_table() -> None:
    truth = [
        {"rows": TRUTH, "box": [0, 0, 100, 100]},
        {"rows": TRUTH, "box": [0, 0, 100, 90]},
    ]
    blocks = [{"type": "table", "box": [0, 0, 100, 92], "rows": TRUTH}]
    matches = match_tables(truth, blocks)
    assert [m.predicted for m in matches] == [None, 0]  # the closer box wins


def test_spec_variety() -> None:
    """The set covers what the issue asks for (content only: nothing is drawn here)."""
    pages = [build_page(spec) for spec in PAGE_SPECS]
    tables = [e for page in pages for e in page.elements if isinstance(e, Table)]
    item_tables = [t for t in tables if t.wrap_column is not None]
    assert len(pages) >= 20
    assert sum(not spec.table for spec in PAGE_SPECS) >= 2  # letters, no table
    assert sum(spec.lang == "en" for spec in PAGE_SPECS) >= 3
    assert {len(t.rows[0]) for t in item_tables} == {3, 4, 5, 6}
    assert all(3 <= len(t.rows) <= 12 for t in item_tables)
    assert any(t.ruled for t in item_tables) and any(not t.ruled for t in item_tables)
    assert any(not t.ruled and not t.header_rule for t in item_tables)
    assert sum(t.narrow for t in item_tables) >= 5
    assert sum(t.totals_from is not None for t in item_tables) >= 5
    assert any("" in row for t in item_tables for row in t.rows[1:])


def test_generator_is_deterministic_and_loads(tmp_path) -> None:
    spec = next(s for s in PAGE_SPECS if s.table and s.table.ruled and s.table.wrap)
    first, second = tmp_path / "a", tmp_path / "b"
    write_eval_set(first, [spec])
    write_eval_set(second, [spec])
    for name in (f"{spec.id}.jpg", f"{spec.id}.json", "index.json"):
        assert (first / name).read_bytes() == (second / name).read_bytes()
    (page,) = load_eval_set(first)
    assert isinstance(page, EvalPage)
    assert page.image.is_file() and page.title == spec.title
    assert spec.title in page.text.splitlines()
    (table,) = page.tables
    assert table.ruled and len({len(row) for row in table.rows}) == 1
    x0, y0, x1, y1 = table.box
    assert 0 <= x0 < x1 <= 1654 and 0 <= y0 < y1 <= 2339
    row_lines = page.text_table_rows.splitlines()
    for row in table.rows:  # a wrapped cell is one cell, its lines joined by a space
        assert " ".join(cell for cell in row if cell) in row_lines
    assert any(len(cell.split()) > 8 for row in table.rows for cell in row)
    assert abs(page.skew_deg) <= 1.5


def test_scanned_box_follows_the_scan_rotation() -> None:
    size, box, angle = (400, 600), (50, 100, 350, 220), 1.4
    clean = Image.new("L", size, 255)
    ImageDraw.Draw(clean).rectangle(box, fill=0)
    rotated = np.asarray(clean.rotate(angle, resample=Image.Resampling.BICUBIC, fillcolor=255))
    ys, xs = np.nonzero(rotated < 128)
    expected = scanned_box(box, angle, size)
    assert np.allclose((xs.min(), ys.min(), xs.max(), ys.max()), expected, atol=1.5)
    assert scanned_box(box, 0.0, size) == pytest.approx(box)
