"""Layout benchmark: do tables stay tables, titles titles, and what does the layout stage cost.

Two sets, both read by kairo-ray's own OCR (the onnx engine) in this process:

* benchmarks/layout_eval's 24 scanned pages with known cells (Spanish and English invoices,
  quotes, a delivery note, letters; ruled and borderless tables, wrapped cells): table cell F1
  (benchmarks/layout_eval/score.py), titles found, tables claimed where there are none, CER;
* the real scans of ../shared/eval (19th-century Spanish books, magazine pages, PDFs): CER
  with and without layout, which must not get worse.

Each page is read by OCR once; the layout engines (``none`` and ``cdla``) then analyse that same
reading, so their figures differ by the layout stage alone. CER is over the page text with the
Markdown markup taken out (a title's "# ", a table's pipes and rule): markup is not a reading
error. Memory: every engine configuration runs in its own worker process (this script with
``--worker``) and reports its peak RSS, as an OCR replica holding those models would.

    python benchmarks/layout_benchmark.py            # ~6 min on 2 cores
    python benchmarks/layout_benchmark.py --quick    # the layout set only
"""

from __future__ import annotations

import argparse
import io
import json
import os
import re
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "benchmarks"))
sys.path.insert(0, str(REPO))

from reporting import header, publish  # noqa: E402

EVAL_DIR = Path(os.environ.get("KAIRO_EVAL_DIR", REPO.parent / "shared" / "eval")).resolve()
REPORT = REPO / "benchmarks" / "reports" / "layout.md"
_RULE = re.compile(r"^\|( --- \|)+$")


def plain_text(text: str) -> str:
    """Page text without Markdown markup: titles without "# ", table rows as their cells."""
    out = []
    for line in text.split("\n"):
        if _RULE.match(line):
            continue
        if line.startswith("# "):
            line = line[2:]
        elif line.startswith("| ") and line.endswith(" |"):
            cells = [c.strip() for c in re.split(r"(?<!\\)\|", line[2:-2])]
            line = " ".join(c.replace("\\|", "|") for c in cells if c)
        out.append(line)
    return "\n".join(out)


# --- worker (one process per configuration) ---------------------------------------------------


def _worker(args: argparse.Namespace) -> dict[str, Any]:
    import numpy as np
    from PIL import Image

    from kairo_ray.processing.evaluation import cer, eval_items, read_zones
    from kairo_ray.processing.layout import LayoutOptions, get_layout_engine
    from kairo_ray.processing.ocr import OcrOptions, get_engine
    from kairo_ray.processing.render import open_document
    from kairo_ray.settings import Settings

    settings = Settings(_env_file=None)  # type: ignore[call-arg]
    ocr = get_engine("onnx", OcrOptions.from_settings(settings, threads=args.threads))
    layout = get_layout_engine(args.layout, LayoutOptions(cpu_threads=args.threads))
    warm = np.asarray(Image.open(args.layout_set / "page-01.jpg").convert("RGB"))
    layout.analyze(ocr.recognize(warm, 1), warm)  # first runs allocate and tune kernels

    def read(image: np.ndarray, number: int) -> dict[str, Any]:
        started = time.perf_counter()
        page = ocr.recognize(image, number)
        ocr_seconds = time.perf_counter() - started
        turns = (360 - page.rotation) % 360 // 90
        upright = np.rot90(image, turns) if turns else image
        started = time.perf_counter()
        laid = layout.analyze(page, upright)
        return {
            "ocr_s": ocr_seconds,
            "layout_s": time.perf_counter() - started,
            "text": laid.text,
            "ocr_text": page.text,
            "blocks": [b.model_dump() for b in laid.blocks],
            "boxes": [line.box for line in page.lines],
            "layout_order": [i for b in laid.blocks for i in (b.lines or [])],
        }

    from layout_eval import load_eval_set

    pages = []
    for page in load_eval_set(args.layout_set):
        image = np.asarray(Image.open(page.image).convert("RGB"))
        row = read(image, 1)
        pages.append({"id": page.id} | row)
        print(f"  {args.layout} {page.id} ocr {row['ocr_s']:.2f}s layout {row['layout_s']:.3f}s")
    heldout = []
    for doc_id, _tables in heldout_tables():
        from search_eval.corpus import DOCUMENTS
        from search_eval.render import render_document

        doc = next(d for d in DOCUMENTS if d.id == doc_id)
        blocks: list[dict[str, Any]] = []
        for number, scan in enumerate(render_document(doc), start=1):
            image = np.asarray(Image.open(io.BytesIO(scan)).convert("RGB"))
            row = read(image, number)
            blocks += row["blocks"]
        heldout.append({"id": doc_id, "blocks": blocks})
        print(f"  {args.layout} held-out {doc_id}")
    scans = []
    if not args.quick:
        for item in eval_items(EVAL_DIR):
            with open_document(EVAL_DIR / item["file"], settings) as document:
                if item.get("page_gt"):
                    refs = [(EVAL_DIR / p).read_text(encoding="utf-8") for p in item["page_gt"]]
                elif item.get("gt") and document.page_count == 1:
                    refs = [(EVAL_DIR / item["gt"]).read_text(encoding="utf-8")]
                else:
                    continue  # no ground truth: nothing to compare
                for number in range(1, document.page_count + 1):
                    image = document.render_page(number)
                    if item.get("zones"):
                        parts = [
                            read(np.ascontiguousarray(image[y0:y1, x0:x1]), number)
                            for x0, y0, x1, y1 in read_zones(EVAL_DIR / item["zones"])
                        ]
                    else:
                        parts = [read(image, number)]
                    ocr_text = "\n".join(p["ocr_text"] for p in parts)
                    text = "\n".join(plain_text(p["text"]) for p in parts)
                    scans.append(
                        {
                            "set": item["set"],
                            "file": item["file"],
                            "page": number,
                            "chars": len(refs[number - 1]),
                            "cer_none": cer(ocr_text, refs[number - 1]),
                            "cer_layout": cer(text, refs[number - 1]),
                            "ocr_s": sum(p["ocr_s"] for p in parts),
                            "layout_s": sum(p["layout_s"] for p in parts),
                        }
                    )
                    print(
                        f"  {args.layout} {item['file']} p{number} "
                        f"cer {scans[-1]['cer_layout']:.4f}"
                    )
    order = []
    if not args.quick:
        for item in eval_items(EVAL_DIR):
            if not item.get("zones"):
                continue
            with open_document(EVAL_DIR / item["file"], settings) as document:
                row = read(document.render_page(1), 1)
            zones = read_zones(EVAL_DIR / item["zones"])
            boxes = row["boxes"]
            order.append(
                {
                    "file": item["file"],
                    "none": zone_order(list(range(len(boxes))), boxes, zones),
                    "layout": zone_order(row["layout_order"], boxes, zones),
                }
            )
    blank_seconds = _blank_pages(ocr, layout, settings) if args.layout != "none" else None
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {
        "layout": args.layout,
        "pages": pages,
        "heldout": heldout,
        "scans": scans,
        "peak_rss_mb": peak,
        "blank_seconds": blank_seconds,
        "order": order,
    }


def zone_order(
    sequence: list[int], boxes: list[Any], zones: list[tuple[int, int, int, int]]
) -> tuple[int, int]:
    """Reading order of a whole page against its text zones, which the magazine pages' .uzn
    files list in reading order: each zone's place is the median place, in ``sequence`` (the
    order the lines are read in), of the OCR lines whose centres fall inside it; returns the
    pairs of zones read in the right order and all pairs compared."""
    place = {line: n for n, line in enumerate(sequence)}
    medians = []
    for x0, y0, x1, y1 in zones:
        inside = [
            place[i]
            for i, (a, b, c, d) in enumerate(boxes)
            if i in place and x0 <= (a + c) / 2 <= x1 and y0 <= (b + d) / 2 <= y1
        ]
        if inside:
            medians.append(statistics.median(inside))
    pairs = [(a, b) for k, a in enumerate(medians) for b in medians[k + 1 :]]
    return sum(a < b for a, b in pairs), len(pairs)


BLANK_PAGES = 300


def _blank_pages(ocr: Any, layout: Any, settings: Any) -> float:
    """Seconds for the whole pipeline's reading of a PDF of 300 empty pages."""
    import pypdfium2 as pdfium

    from kairo_ray.processing.layout import PageReader
    from kairo_ray.processing.pipeline import process_document

    pdf = pdfium.PdfDocument.new()
    for _ in range(BLANK_PAGES):
        pdf.new_page(595, 842)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "blank.pdf"
        pdf.save(str(path))
        started = time.perf_counter()
        process_document(path, settings, PageReader(ocr, layout))
        return time.perf_counter() - started


def heldout_tables() -> list[tuple[str, list[list[list[str]]]]]:
    """The tables of benchmarks/search_eval's documents, as their corpus prints them: runs of
    "a | b | c" lines with the same number of cells (three or more: the two-cell "number | date"
    lines are not tables), totals rows included, since they are drawn on the table's columns.
    A second, held-out check: the layout stage was tuned on benchmarks/layout_eval only."""
    from search_eval.corpus import DOCUMENTS

    found = []
    for doc in DOCUMENTS:
        tables: list[list[list[str]]] = []
        for page in doc.pages:
            current: list[list[str]] | None = None
            for raw in page:
                if "|" in raw:
                    cells = [c.strip() for c in raw.removeprefix("## ").split("|")]
                    if current is not None and len(current[0]) == len(cells):
                        current.append(cells)
                    else:
                        current = [cells]
                        tables.append(current)
                elif raw:
                    current = None
        tables = [t for t in tables if len(t[0]) >= 3]
        if tables:
            found.append((doc.id, tables))
    return found


def _best_pairs(truth: list[list[list[str]]], blocks: list[dict[str, Any]]) -> list[Any]:
    """Each truth table paired, one to one, with the predicted table that scores best on it
    (these documents have no truth boxes to match by)."""
    from layout_eval.score import cell_scores

    tables = [b["rows"] for b in blocks if b["type"] == "table" and b.get("rows")]
    pairs = sorted(
        ((cell_scores(t, p).f1, i, j) for i, t in enumerate(truth) for j, p in enumerate(tables)),
        reverse=True,
    )
    chosen: dict[int, int] = {}
    used: set[int] = set()
    for _, i, j in pairs:
        if i not in chosen and j not in used:
            chosen[i] = j
            used.add(j)
    return [cell_scores(t, tables[chosen[i]] if i in chosen else None) for i, t in enumerate(truth)]


# --- report ------------------------------------------------------------------------------------


def _score(run: dict[str, Any], layout_set: Path) -> dict[str, Any]:
    from layout_eval import load_eval_set
    from layout_eval.score import match_tables, total, unmatched_tables

    from kairo_ray.processing.evaluation import cer

    truth = {p.id: p for p in load_eval_set(layout_set)}
    by_kind: dict[str, list[Any]] = {"ruled": [], "borderless": [], "all": []}
    titles = false_tables = 0
    cer_rows: list[tuple[float, int]] = []
    for page in run["pages"]:
        expected = truth[page["id"]]
        matches = match_tables(expected.tables, page["blocks"])
        for table, match in zip(expected.tables, matches, strict=True):
            by_kind["ruled" if table.ruled else "borderless"].append(match.cells)
            by_kind["all"].append(match.cells)
        false_tables += len(unmatched_tables(matches, page["blocks"]))
        found = [b["text"] for b in page["blocks"] if b["type"] == "title"]
        titles += any(cer(t, expected.title) <= 0.2 for t in found)
        reference = expected.text_table_rows
        cer_rows.append((cer(plain_text(page["text"]), reference), len(reference)))
    cells = {kind: total(scores) for kind, scores in by_kind.items()}
    truth_heldout = dict(heldout_tables())
    heldout = total(
        score
        for doc in run["heldout"]
        for score in _best_pairs(truth_heldout[doc["id"]], doc["blocks"])
    )
    chars = sum(n for _, n in cer_rows)
    with_table = [p for p in run["pages"] if truth[p["id"]].tables]
    without = [p for p in run["pages"] if not truth[p["id"]].tables]
    return {
        "cells": cells,
        "heldout": heldout,
        "heldout_tables": sum(len(t) for t in truth_heldout.values()),
        "tables": {kind: len(scores) for kind, scores in by_kind.items()},
        "titles": titles,
        "pages": len(run["pages"]),
        "false_tables": false_tables,
        "cer": sum(c * n for c, n in cer_rows) / chars,
        "ocr_s_table": statistics.median(p["ocr_s"] for p in with_table),
        "layout_s_table": statistics.median(p["layout_s"] for p in with_table),
        "ocr_s_plain": statistics.median(p["ocr_s"] for p in without) if without else None,
        "layout_s_plain": statistics.median(p["layout_s"] for p in without) if without else None,
    }


def _scan_cer(scans: list[dict[str, Any]], key: str) -> dict[str, float]:
    sets: dict[str, list[dict[str, Any]]] = {}
    for row in scans:
        sets.setdefault(row["set"], []).append(row)
    sets["all"] = scans
    return {
        name: sum(r[key] * r["chars"] for r in rows) / sum(r["chars"] for r in rows)
        for name, rows in sets.items()
    }


def report(runs: dict[str, dict[str, Any]], layout_set: Path, quick: bool) -> str:
    scores = {name: _score(run, layout_set) for name, run in runs.items()}
    lines = [header("Layout: tables, titles, reading order and their cost"), ""]
    lines += [
        "OCR: the onnx engine (PP-OCRv6 small), 2 threads, on each page once; the layout engines "
        "analyse that same reading. Cell F1 as defined in benchmarks/layout_eval/score.py (a "
        "cell counts when it is in the right row and column with CER ≤ 0.2; rows and columns "
        "aligned optimally; recall over the printed cells, precision over the predicted ones).",
        "",
        "## Tables and titles (benchmarks/layout_eval, 24 scanned pages, 23 tables, 806 cells)",
        "",
        "| layout | cell F1 all | recall | precision | ruled (11) | borderless (12) | titles found "
        "| tables where none | CER (text, markup out) |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for name, s in scores.items():
        c = s["cells"]
        lines.append(
            f"| {name} | {c['all'].f1:.3f} | {c['all'].recall:.3f} | {c['all'].precision:.3f} "
            f"| {c['ruled'].f1:.3f} | {c['borderless'].f1:.3f} | {s['titles']}/{s['pages']} "
            f"| {s['false_tables']} | {s['cer']:.4f} |"
        )
    first = next(iter(scores.values()))
    lines += [
        "",
        f"Held out (not looked at while tuning the layout stage): the {first['heldout_tables']} "
        "tables of benchmarks/search_eval's invoices, quote, delivery note and letter, scanned by "
        "that corpus's own renderer; each paired with the predicted table that scores best.",
        "",
        "| layout | cell F1 | recall | precision |",
        "|---|---|---|---|",
    ]
    for name, s in scores.items():
        h = s["heldout"]
        lines.append(f"| {name} | {h.f1:.3f} | {h.recall:.3f} | {h.precision:.3f} |")
    lines += [
        "",
        "CER here is against the page's printed text with each table row on one line "
        "(`text_table_rows`): a wrapped cell read whole, as a table row is.",
        "",
        "## Time per page and memory (2 threads)",
        "",
        "| layout | OCR s/page, pages with a table (median) | layout s/page | share | OCR s/page, "
        "pages without | layout s/page | share | peak RSS of the worker |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for name, s in scores.items():
        plain_ocr, plain_layout = s["ocr_s_plain"], s["layout_s_plain"]
        plain = (
            f"{plain_ocr:.2f} | {plain_layout:.3f} | {plain_layout / plain_ocr:.1%}"
            if plain_ocr
            else "– | – | –"
        )
        lines.append(
            f"| {name} | {s['ocr_s_table']:.2f} | {s['layout_s_table']:.3f} "
            f"| {s['layout_s_table'] / s['ocr_s_table']:.1%} | {plain} "
            f"| {runs[name]['peak_rss_mb']:.0f} MB |"
        )
    blank = runs["cdla"].get("blank_seconds")
    if blank is not None:
        lines += [
            "",
            f"A PDF of {BLANK_PAGES} empty pages, through the whole reading (render, ink check, "
            f"no OCR): {blank:.1f} s, {1000 * blank / BLANK_PAGES:.0f} ms a page.",
        ]
    lines += [
        "",
        "OCR time varies between the two workers because they are separate runs on a VM that "
        "drifts by several per cent; the layout column is measured on the same reading.",
    ]
    if not quick:
        lines += [
            "",
            "## Real scans (../shared/eval): CER with and without layout",
            "",
            "| set | pages | CER, OCR order (none) | CER with cdla | change |",
            "|---|---|---|---|---|",
        ]
        scans = runs["cdla"]["scans"]
        before, after = _scan_cer(scans, "cer_none"), _scan_cer(scans, "cer_layout")
        for name in sorted(before, key=lambda n: (n == "all", n)):
            count = len(scans) if name == "all" else sum(r["set"] == name for r in scans)
            lines.append(
                f"| {name} | {count} | {before[name]:.4f} | {after[name]:.4f} "
                f"| {after[name] - before[name]:+.4f} |"
            )
        order = runs["cdla"].get("order") or []
        if order:
            lines += [
                "",
                "Reading order of the whole magazine pages (en_tesseract_testing, several "
                "columns, read as one page, not zone by zone): pairs of text zones read in the "
                "order their .uzn file lists them, each zone placed at the median place of the "
                "OCR lines inside it.",
                "",
                "| page | OCR order (none) | with cdla |",
                "|---|---|---|",
            ]
            for row in order:
                lines.append(
                    f"| {Path(row['file']).name} | {row['none'][0]}/{row['none'][1]} "
                    f"| {row['layout'][0]}/{row['layout'][1]} |"
                )
        worse = [r for r in scans if r["cer_layout"] > r["cer_none"] + 1e-9]
        lines += [
            "",
            f"Pages whose CER got worse with layout: {len(worse)} of {len(scans)}"
            + (
                ": "
                + ", ".join(
                    f"{Path(r['file']).name} p{r['page']} ({r['cer_none']:.4f} → "
                    f"{r['cer_layout']:.4f})"
                    for r in worse
                )
                if worse
                else "."
            ),
        ]
    return "\n".join(lines) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="the layout set only")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--layout", default="cdla", help=argparse.SUPPRESS)
    parser.add_argument("--layout-set", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        args.out.write_text(json.dumps(_worker(args)))
        return 0
    from layout_eval.generate import write_eval_set

    with tempfile.TemporaryDirectory() as tmp:
        layout_set = Path(tmp) / "layout_eval"
        write_eval_set(layout_set)
        runs = {}
        for layout in ("none", "cdla"):
            out = Path(tmp) / f"{layout}.json"
            command = [sys.executable, __file__, "--worker", "--layout", layout]
            command += ["--layout-set", str(layout_set), "--out", str(out)]
            command += ["--threads", str(args.threads)] + (["--quick"] if args.quick else [])
            subprocess.run(command, check=True)
            runs[layout] = json.loads(out.read_text())
        publish(report(runs, layout_set, args.quick), REPORT)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
