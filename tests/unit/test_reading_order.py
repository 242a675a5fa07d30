"""Reading order geometry: lines left to right, columns one after another, table rows across."""

from __future__ import annotations

from kairo_ray.processing.reading_order import Box, group_lines, reading_order


def _lines(boxes: list[Box], labels: list[str]) -> list[str]:
    return [" ".join(labels[i] for i in line) for line in reading_order(boxes)]


def test_empty_and_single() -> None:
    assert reading_order([]) == []
    assert reading_order([(0, 0, 10, 10)]) == [[0]]


def test_single_column_top_to_bottom_regardless_of_input_order() -> None:
    boxes = [(50, 100 + 40 * i, 900, 130 + 40 * i) for i in range(5)]
    labels = [f"line{i}" for i in range(5)]
    order = [3, 0, 4, 1, 2]
    shuffled = [boxes[i] for i in order]
    assert _lines(shuffled, [labels[i] for i in order]) == labels


def test_boxes_on_one_visual_line_join_left_to_right() -> None:
    # Slightly different tops and heights, as detected words of one line are.
    boxes = [(600, 103, 900, 131), (50, 100, 300, 130), (320, 98, 580, 129)]
    assert _lines(boxes, ["c", "a", "b"]) == ["a b c"]


def test_touching_lines_of_tight_text_stay_separate() -> None:
    # Ascenders/descenders make consecutive line boxes overlap by a few pixels.
    boxes = [(50, 100, 900, 135), (50, 130, 900, 165), (50, 160, 900, 195)]
    assert _lines(boxes, ["one", "two", "three"]) == ["one", "two", "three"]


def _two_columns(top: float = 200, rows: int = 6) -> tuple[list[Box], list[str]]:
    boxes: list[Box] = []
    labels: list[str] = []
    for i in range(rows):  # baselines aligned across the gutter, as in typeset pages
        y = top + 40 * i
        boxes.append((50, y, 480 - (30 if i == rows - 1 else 0), y + 30))
        labels.append(f"L{i}")
        boxes.append((540, y, 970, y + 30))
        labels.append(f"R{i}")
    return boxes, labels


def test_two_columns_read_one_after_the_other() -> None:
    boxes, labels = _two_columns()
    expected = [f"L{i}" for i in range(6)] + [f"R{i}" for i in range(6)]
    assert _lines(boxes, labels) == expected


def test_heading_columns_footer() -> None:
    boxes, labels = _two_columns(top=200)
    boxes = [(300, 80, 720, 140), *boxes, (50, 500, 970, 530)]
    labels = ["TITLE", *labels, "footer"]
    expected = ["TITLE"] + [f"L{i}" for i in range(6)] + [f"R{i}" for i in range(6)] + ["footer"]
    assert _lines(boxes, labels) == expected


def test_table_rows_read_across_cells() -> None:
    cells = [["Name", "Qty", "Price"], ["Apples", "3", "1.20"], ["Pears", "12", "0.80"]]
    columns = [(50, 180), (400, 460), (700, 790)]
    boxes: list[Box] = []
    labels: list[str] = []
    for r, row in enumerate(cells):
        for c, label in enumerate(row):
            x0, x1 = columns[c]
            width = (x1 - x0) * (0.5 + 0.5 * ((r + c) % 2))
            boxes.append((x0, 100 + 50 * r, x0 + width, 130 + 50 * r))
            labels.append(label)
    assert _lines(boxes, labels) == ["Name Qty Price", "Apples 3 1.20", "Pears 12 0.80"]


def test_text_then_table_then_text() -> None:
    boxes: list[Box] = [(50, 50, 950, 80), (50, 90, 940, 120)]
    labels = ["intro1", "intro2"]
    for r in range(3):
        for c, x in enumerate((50, 400, 700)):
            boxes.append((x, 160 + 40 * r, x + 80, 190 + 40 * r))
            labels.append(f"r{r}c{c}")
    boxes.append((50, 300, 950, 330))
    labels.append("outro")
    assert _lines(boxes, labels) == [
        "intro1",
        "intro2",
        "r0c0 r0c1 r0c2",
        "r1c0 r1c1 r1c2",
        "r2c0 r2c1 r2c2",
        "outro",
    ]


def test_every_box_appears_once() -> None:
    boxes, _ = _two_columns(rows=9)
    boxes += [(10, 10, 30, 900), (0, 0, 1000, 5)]  # odd shapes: a vertical rule, a hairline
    flat = [i for line in reading_order(boxes) for i in line]
    assert sorted(flat) == list(range(len(boxes)))


def test_group_lines() -> None:
    boxes: list[Box] = [(300, 10, 400, 40), (10, 12, 200, 38), (10, 60, 200, 90)]
    assert group_lines(boxes) == [[1, 0], [2]]
