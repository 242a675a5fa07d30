"""Memory of rendering one page: the peak a page task adds to its process, by kind of page.

Each case renders one page in a fresh process (this script with ``--worker``) through
``open_document(...).render_page(1)`` with the default settings (RENDER_DPI=200,
MAX_PAGE_PIXELS=90 000 000, pages up to 4 × that decoded and downscaled), and reports the peak
RSS above the process's RSS just before it, and the seconds. The pages are made here: a 16-bit
grayscale TIFF as a film or medical scanner writes it, an RGBA PNG, a phone photo as JPEG, a
bilevel fax TIFF and a PDF page, at sizes under and over MAX_PAGE_PIXELS (Pillow itself
refuses images over twice its own 89 478 485-pixel limit, so 160 MP is about the largest a page
can be).
``--tree`` renders with another checkout's code (an earlier commit, for a before/after table).

    python benchmarks/render_memory_benchmark.py [--tree /path/to/other/checkout]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "benchmarks"))

from reporting import header, publish  # noqa: E402

CASES = [
    ("16-bit grayscale TIFF, 80 MP (under the limit)", "tiff16", 8000, 10000),
    ("16-bit grayscale TIFF, 160 MP (downscaled)", "tiff16", 10000, 16000),
    ("RGBA PNG, 160 MP (downscaled)", "rgba", 10000, 16000),
    ("bilevel TIFF (fax), 160 MP (downscaled)", "bilevel", 10000, 16000),
    ("JPEG photo, 48 MP", "jpeg", 8000, 6000),
    ("PDF, A4 page at 200 dpi", "pdf", 0, 0),
]


def make(kind: str, width: int, height: int, folder: Path) -> Path:
    """A page of ``kind``: mostly paper with a few dark bars, so it compresses as scans do."""
    import numpy as np
    from PIL import Image

    if kind == "pdf":
        import pypdfium2 as pdfium

        pdf = pdfium.PdfDocument.new()
        pdf.new_page(595, 842)
        path = folder / "page.pdf"
        pdf.save(str(path))
        return path
    rows = np.arange(height)[:, None]
    ink = (rows // 97) % 7 == 0
    if kind == "tiff16":
        array = np.where(ink, 9000, 60000).astype(np.uint16) * np.ones((1, width), np.uint16)
        path = folder / "page.tif"
        Image.fromarray(array).save(path, compression="tiff_deflate")  # uint16: "I;16"
    elif kind == "bilevel":
        array = np.where(ink, 0, 255).astype(np.uint8) * np.ones((1, width), np.uint8)
        path = folder / "page.tif"
        Image.fromarray(array).convert("1").save(path, compression="group4")
    elif kind == "rgba":
        gray = np.where(ink, 30, 240).astype(np.uint8) * np.ones((1, width), np.uint8)
        rgba = np.stack([gray, gray, gray, np.full_like(gray, 255)], axis=2)
        path = folder / "page.png"
        Image.fromarray(rgba).save(path, compress_level=1)
    else:
        gray = np.where(ink, 30, 240).astype(np.uint8) * np.ones((1, width), np.uint8)
        path = folder / "page.jpg"
        Image.fromarray(gray).convert("RGB").save(path, quality=85)
    return path


def _status_mib(field: str) -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    return 0.0


def _reset_peak() -> None:
    """Start the process's peak RSS (VmHWM) afresh from its current RSS (Linux ≥ 4.0)."""
    with open("/proc/self/clear_refs", "w") as refs:
        refs.write("5")


def worker(path: Path) -> dict[str, float]:
    from kairo_ray.processing.render import open_document
    from kairo_ray.settings import Settings

    settings = Settings(_env_file=None)  # type: ignore[call-arg]
    data = path.read_bytes()
    _reset_peak()
    before = _status_mib("VmRSS")
    started = time.perf_counter()
    with open_document(data, settings) as document:
        page = document.render_page(1)
    seconds = time.perf_counter() - started
    peak = _status_mib("VmHWM")
    return {"added_mib": peak - before, "seconds": seconds, "shape": list(page.shape)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tree", type=Path, help="render with this checkout's kairo_ray")
    parser.add_argument("--worker", type=Path, help=argparse.SUPPRESS)
    parser.add_argument(
        "--report", default=str(REPO / "benchmarks" / "reports" / "render-memory.md")
    )
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(worker(args.worker)))
        return 0
    trees = [("this checkout", REPO)] + ([("--tree", args.tree.resolve())] if args.tree else [])
    rows = []
    with tempfile.TemporaryDirectory() as scratch:
        for label, kind, width, height in CASES:
            folder = Path(scratch) / kind / str(width)
            folder.mkdir(parents=True)
            path = make(kind, width, height, folder)
            cells = []
            for _, tree in trees:
                env = {**os.environ, "PYTHONPATH": str(tree)}
                done = subprocess.run(
                    [sys.executable, __file__, "--worker", str(path)],
                    env=env,
                    capture_output=True,
                    text=True,
                    check=False,
                )
                if done.returncode:
                    cells.append(f"failed: {done.stderr.strip().splitlines()[-1][:80]}")
                    continue
                result = json.loads(done.stdout.strip().splitlines()[-1])
                cells.append(
                    f"{result['added_mib']:.0f} MiB, {result['seconds']:.1f} s "
                    f"({result['shape'][1]}×{result['shape'][0]})"
                )
            rows.append(f"| {label} | {path.stat().st_size / 1e6:.1f} MB | " + " | ".join(cells))
            print(rows[-1])
    names = " | ".join(f"peak added, time (output), {name}" for name, _ in trees)
    report = "\n".join(
        [
            header("Memory of rendering one page"),
            "",
            f"- other checkout: `{args.tree}`" if args.tree else "- this checkout only",
            "- peak added: the process's peak RSS above its RSS just before opening the file",
            "",
            f"| page | file | {names} |",
            "|---|---|" + "---|" * len(trees),
            *[row + " |" for row in rows],
            "",
        ]
    )
    publish(report, args.report)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
