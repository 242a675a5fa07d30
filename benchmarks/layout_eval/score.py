"""Scoring predicted tables against the layout-eval ground truth: pure functions, no models.

Cells
    Both grids are compared cell by cell after normalising each cell the way CER is computed in
    :mod:`kairo_ray.processing.evaluation` (NFC, typographic quotes and dashes to ASCII,
    whitespace collapsed) and case-folding. A predicted cell is *correct* when its CER against
    the truth cell is at most :data:`CELL_CER_MAX` (0.2: "1.785,78 €" read as "1.785,7B €" still
    counts); an empty truth cell is correct only when the predicted cell is empty too.

Alignment
    Rows are paired with rows and columns with columns *in order* (a monotone one-to-one
    alignment, by dynamic programming), so a missing or extra row or column shifts nothing
    after it. The pairing that maximises the number of correct cells is searched by
    alternating: rows are first paired by the similarity of their joined text, then columns by
    the correct cells they give over the paired rows, then rows again by the correct cells over
    the paired columns, until neither changes. Ties go to the more similar text.

Score
    ``recall`` = correct cells / truth cells, ``precision`` = correct cells / predicted cells
    (the predicted grid padded to a rectangle), and :func:`cell_accuracy` is their F1. So a
    missing row or column costs recall, an extra one precision, and two rows printed in swapped
    order count as one missing and one extra row (only one of them can stay in order).

Tables
    :func:`match_tables` pairs each truth table with a predicted ``table`` block, one to one,
    greedily by the IoU of their boxes; an unmatched truth table scores 0.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from kairo_ray.processing.evaluation import cer, levenshtein, normalize_for_cer

__all__ = [
    "CELL_CER_MAX",
    "CellScore",
    "TableMatch",
    "box_iou",
    "cell_accuracy",
    "cell_matches",
    "cell_scores",
    "cer",
    "match_tables",
    "normalize_cell",
    "total",
    "unmatched_tables",
]

CELL_CER_MAX = 0.2
"""Highest character error rate at which a predicted cell still counts as the truth cell."""

_MAX_ROUNDS = 6

Box = Sequence[float]


def normalize_cell(text: str | None) -> str:
    """NFC, typographic quotes/dashes to ASCII, whitespace collapsed, case-folded."""
    return normalize_for_cer(text or "").casefold()


@lru_cache(maxsize=1 << 16)
def _compare(truth: str, predicted: str) -> tuple[bool, float]:
    """(correct, similarity in [0, 1]) of two normalised cells."""
    if not truth or not predicted:
        same = truth == predicted
        return same, float(same)
    distance = levenshtein(predicted, truth)
    return distance <= CELL_CER_MAX * len(truth), 1.0 - distance / max(len(truth), len(predicted))


def cell_matches(truth: str, predicted: str | None) -> bool:
    """Whether a predicted cell counts as the truth cell (see the module's docstring)."""
    return _compare(normalize_cell(truth), normalize_cell(predicted))[0]


@dataclass(frozen=True)
class CellScore:
    """Correct cells of one predicted table (or a sum of several, see :func:`total`)."""

    correct: int
    truth_cells: int
    predicted_cells: int
    truth_shape: tuple[int, int] = (0, 0)  # rows, columns
    predicted_shape: tuple[int, int] = (0, 0)

    @property
    def recall(self) -> float:
        return self.correct / self.truth_cells if self.truth_cells else 1.0

    @property
    def precision(self) -> float:
        return self.correct / self.predicted_cells if self.predicted_cells else 1.0

    @property
    def f1(self) -> float:
        if not self.truth_cells and not self.predicted_cells:
            return 1.0
        return 2 * self.correct / (self.truth_cells + self.predicted_cells)


def total(scores: Iterable[CellScore]) -> CellScore:
    """Cells summed over tables (a micro-average: big tables weigh more)."""
    correct = truth = predicted = 0
    for score in scores:
        correct += score.correct
        truth += score.truth_cells
        predicted += score.predicted_cells
    return CellScore(correct, truth, predicted)


def _grid(rows: Sequence[Sequence[str | None]] | None) -> list[list[str]]:
    """Normalised cells, padded with empty cells to a rectangle; empty rows are kept."""
    rows = rows or []
    width = max((len(row) for row in rows), default=0)
    return [[normalize_cell(c) for c in row] + [""] * (width - len(row)) for row in rows]


def _align(weights: list[list[float]]) -> list[tuple[int, int]]:
    """The monotone one-to-one pairing (i < i' implies j < j') of highest total weight; pairs
    of weight <= 0 are never taken."""
    n = len(weights)
    m = len(weights[0]) if n else 0
    best = [[0.0] * (m + 1) for _ in range(n + 1)]
    for i in range(n - 1, -1, -1):
        for j in range(m - 1, -1, -1):
            take = weights[i][j] + best[i + 1][j + 1] if weights[i][j] > 0 else 0.0
            best[i][j] = max(take, best[i + 1][j], best[i][j + 1])
    pairs = []
    i = j = 0
    while i < n and j < m:
        if weights[i][j] > 0 and best[i][j] == weights[i][j] + best[i + 1][j + 1]:
            pairs.append((i, j))
            i, j = i + 1, j + 1
        elif best[i][j] == best[i + 1][j]:
            i += 1
        else:
            j += 1
    return pairs


def _row_text(row: list[str]) -> str:
    return " ".join(cell for cell in row if cell)


def cell_scores(
    truth_rows: Sequence[Sequence[str]], predicted_rows: Sequence[Sequence[str | None]] | None
) -> CellScore:
    """Correct, truth and predicted cell counts of one predicted table (module docstring)."""
    truth, predicted = _grid(truth_rows), _grid(predicted_rows)
    t_shape = (len(truth), len(truth[0]) if truth else 0)
    p_shape = (len(predicted), len(predicted[0]) if predicted else 0)
    truth_cells, predicted_cells = t_shape[0] * t_shape[1], p_shape[0] * p_shape[1]
    if not truth_cells or not predicted_cells:
        return CellScore(0, truth_cells, predicted_cells, t_shape, p_shape)
    tie = 1.0 / (truth_cells + 1)  # all similarity bonuses together stay below one cell

    def weight(t: str, p: str) -> float:
        correct, similarity = _compare(t, p)
        return correct + tie * similarity

    rows = _align(
        [
            [_compare(_row_text(t_row), _row_text(p_row))[1] + tie for p_row in predicted]
            for t_row in truth
        ]
    )
    best: tuple[int, list[tuple[int, int]], list[tuple[int, int]]] = (-1, [], [])
    columns: list[tuple[int, int]] = []
    for _ in range(_MAX_ROUNDS):
        new_columns = _align(
            [
                [
                    sum(weight(truth[i][j], predicted[r][c]) for i, r in rows)
                    for c in range(p_shape[1])
                ]
                for j in range(t_shape[1])
            ]
        )
        correct = sum(
            _compare(truth[i][j], predicted[r][c])[0] for i, r in rows for j, c in new_columns
        )
        if correct > best[0]:
            best = (correct, rows, new_columns)
        new_rows = _align(
            [
                [
                    sum(weight(truth[i][j], predicted[r][c]) for j, c in new_columns)
                    for r in range(p_shape[0])
                ]
                for i in range(t_shape[0])
            ]
        )
        if new_rows == rows and new_columns == columns:
            break
        rows, columns = new_rows, new_columns
    return CellScore(best[0], truth_cells, predicted_cells, t_shape, p_shape)


def cell_accuracy(
    truth_rows: Sequence[Sequence[str]], predicted_rows: Sequence[Sequence[str | None]] | None
) -> float:
    """F1 of cell recall and cell precision, in [0, 1]: 1.0 only for every truth cell in its
    place and nothing more (see the module's docstring for the exact definition)."""
    return cell_scores(truth_rows, predicted_rows).f1


# --- tables on a page ---------------------------------------------------------------------------


def _field(obj: Any, name: str) -> Any:
    """A field of a pydantic/dataclass object or of a mapping (the JSON form)."""
    return obj.get(name) if isinstance(obj, Mapping) else getattr(obj, name, None)


def box_iou(a: Box, b: Box) -> float:
    """Intersection over union of two [x0, y0, x1, y1] boxes."""
    width = min(a[2], b[2]) - max(a[0], b[0])
    height = min(a[3], b[3]) - max(a[1], b[1])
    if width <= 0 or height <= 0:
        return 0.0
    inter = width * height
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


@dataclass(frozen=True)
class TableMatch:
    """One truth table and the predicted table block paired with it (``None``: none was)."""

    truth: int  # index into the truth tables
    predicted: int | None  # index into the predicted blocks (all of them, not only tables)
    iou: float
    cells: CellScore


def match_tables(
    truth_tables: Sequence[Any], predicted_blocks: Sequence[Any], min_iou: float = 0.0
) -> list[TableMatch]:
    """Pair each truth table (``TruthTable`` or its JSON dict) with the predicted block of type
    ``table`` (``kairo_ray.models.Block`` or a dict) that overlaps it most, one to one, pairs
    taken greedily from the highest IoU down; only IoU above ``min_iou`` pairs. Each match
    carries its :class:`CellScore`; an unmatched truth table gets one with no correct cell."""
    tables = [k for k, block in enumerate(predicted_blocks) if _field(block, "type") == "table"]
    candidates = sorted(
        (
            (-box_iou(_field(truth, "box"), _field(predicted_blocks[k], "box")), t, k)
            for t, truth in enumerate(truth_tables)
            for k in tables
        )
    )
    paired: dict[int, tuple[int, float]] = {}
    used: set[int] = set()
    for negative_iou, t, k in candidates:
        if -negative_iou > min_iou and t not in paired and k not in used:
            paired[t] = (k, -negative_iou)
            used.add(k)
    matches = []
    for t, truth in enumerate(truth_tables):
        k, iou = paired.get(t, (None, 0.0))
        rows = _field(predicted_blocks[k], "rows") if k is not None else None
        matches.append(TableMatch(t, k, iou, cell_scores(_field(truth, "rows"), rows)))
    return matches


def unmatched_tables(matches: Sequence[TableMatch], predicted_blocks: Sequence[Any]) -> list[int]:
    """Indices of predicted ``table`` blocks paired with no truth table (tables that are not,
    e.g. on a letter): report their count beside the cell scores."""
    used = {m.predicted for m in matches}
    return [
        k
        for k, block in enumerate(predicted_blocks)
        if _field(block, "type") == "table" and k not in used
    ]
