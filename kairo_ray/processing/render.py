"""Open a document from bytes or a path and render its pages, one at a time, as RGB arrays.

Renderer: PDFs go through pypdfium2 (PDFium in-process): no subprocess or temp files, and
several times faster than pdf2image (poppler's ``pdftoppm`` writing PPM files; figures in
``benchmarks/reports/ocr.md``). It also
gives page sizes before rendering (for the pixel limit) and the embedded text layer. Raster files
(PNG, JPEG, TIFF incl. multi-page and CCITT G4 fax, WebP, BMP) go through Pillow.

Pages are rendered lazily so that independent workers (Ray tasks) can each open the same bytes and
render only their page. A :class:`Document` holds native handles and is not picklable: ship the
bytes, not the document. PDFium is not thread-safe, so its calls are serialised per process.
"""

from __future__ import annotations

import io
import math
import re
import threading
import unicodedata
import warnings
from abc import ABC, abstractmethod
from pathlib import Path
from types import TracebackType

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from kairo_ray.errors import PermanentError
from kairo_ray.models import OcrLine
from kairo_ray.processing.fetch import FileKind, require_kind
from kairo_ray.settings import Settings

_PDFIUM_LOCK = threading.RLock()

BOMB_FACTOR = 4
"""Raster pages up to BOMB_FACTOR × MAX_PAGE_PIXELS are decoded and downscaled; larger ones are
refused as decompression bombs (decoding them would cost gigabytes before any downscaling)."""

LARGE_IMAGE_COVERAGE = 0.5
"""A PDF page whose images cover this share of its area is a scan: its text layer must be longer
(4 × TEXT_LAYER_MIN_CHARS) to be trusted, so a stamp or header over a scan does not skip OCR."""


_ORDINARY_PUNCTUATION = frozenset(".,;:!?¿¡'\"«»“”‘’()[]-–—%€$/&@#*·…")


def text_layer_quality(text: str, min_chars: int) -> bool:
    """Whether a PDF page's embedded text is good enough to use instead of OCR.

    Rule: at least ``min_chars`` non-space characters; ≥ 95 % of them printable (no U+FFFD, no
    private-use glyph codes from broken font encodings); ≥ 60 % letters; ≤ 5 % odd symbols (not
    letters, digits or ordinary punctuation); and word-like tokens — at most 30 % single-letter
    tokens and ≥ 60 % of tokens with a vowel. Bad OCR text layers ("sw | \\ + 400 + 300
    —esupport") and glyph-index garbage fail the symbol, letter or token tests.
    """
    chars = [ch for ch in text if not ch.isspace()]
    if len(chars) < max(1, min_chars):
        return False
    printable = sum(
        1
        for ch in chars
        if ch.isprintable() and ch != "\ufffd" and unicodedata.category(ch) != "Co"
    )
    letters = sum(1 for ch in chars if ch.isalpha())
    odd = sum(1 for ch in chars if not ch.isalnum() and ch not in _ORDINARY_PUNCTUATION)
    if printable < 0.95 * len(chars) or letters < 0.6 * len(chars) or odd > 0.05 * len(chars):
        return False
    tokens = re.findall(r"[^\W\d_]+", text)
    if not tokens:
        return False
    single = sum(1 for t in tokens if len(t) == 1)
    vowel = sum(1 for t in tokens if re.search(r"[aeiouyáéíóúàèìòùâêîôûäëïöüAEIOUYÁÉÍÓÚ]", t))
    return single <= 0.3 * len(tokens) and vowel >= 0.6 * len(tokens)


class Document(ABC):
    """A paged document: ``page_count``, and per page a rendered image and maybe a text layer."""

    kind: FileKind
    page_count: int

    def __init__(self, settings: Settings) -> None:
        self.dpi = settings.render_dpi
        self.max_pages = settings.max_pages
        self.max_page_pixels = settings.max_page_pixels
        self.text_layer_min_chars = settings.text_layer_min_chars

    def _check_page(self, page_number: int) -> int:
        if not 1 <= page_number <= self.page_count:
            raise ValueError(f"page {page_number} out of range 1..{self.page_count}")
        return page_number - 1

    def _check_page_count(self) -> None:
        if self.page_count == 0:
            raise PermanentError(f"{self.kind.upper()} has no pages")
        if self.page_count > self.max_pages:
            raise PermanentError(
                f"too many pages: {self.page_count} pages, more than MAX_PAGES={self.max_pages}"
            )

    @abstractmethod
    def render_page(self, page_number: int) -> np.ndarray:
        """Page ``page_number`` (1-based) as an H×W×3 RGB uint8 array at RENDER_DPI."""

    def text_layer(self, page_number: int) -> str | None:
        """The page's embedded text if it passes :func:`text_layer_quality`, else None."""
        self._check_page(page_number)
        return None

    def text_lines(self, page_number: int) -> list[OcrLine]:
        """The page's embedded text as line segments with boxes in render pixels (what OCR
        would give), for the layout stage; empty for pages without a text layer."""
        self._check_page(page_number)
        return []

    def close(self) -> None:  # noqa: B027 - subclasses with native handles override it
        """Release native handles (PDFium document, Pillow file)."""

    def __enter__(self) -> Document:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType
    ) -> None:
        self.close()


class PdfDocument(Document):
    """A PDF through pypdfium2; huge pages are rendered at a lower scale to fit MAX_PAGE_PIXELS."""

    kind: FileKind = "pdf"

    def __init__(self, data: bytes, settings: Settings) -> None:
        super().__init__(settings)
        import pypdfium2 as pdfium

        if b"%%EOF" not in data[-1024:]:
            raise PermanentError(
                "truncated PDF: no %%EOF marker at the end of the file (incomplete upload?)"
            )
        with _PDFIUM_LOCK:
            try:
                self._pdf = pdfium.PdfDocument(data)
            except pdfium.PdfiumError as exc:
                # PDFium's last-error code can be stale from an earlier document: decide from
                # the bytes where possible.
                if re.search(rb"/Encrypt\s*(<<|\d+\s+\d+\s+R)", data):
                    raise PermanentError(
                        "encrypted PDF: a password is required to open it"
                    ) from exc
                if _declares_no_pages(data):
                    raise PermanentError("PDF has no pages (its page tree is empty)") from exc
                raise PermanentError(f"corrupt PDF: PDFium cannot parse it ({exc})") from exc
            self.page_count = len(self._pdf)
        self._check_page_count()

    def _scale(self, page: object) -> float:
        width_pt, height_pt = page.get_size()  # type: ignore[attr-defined]
        scale = self.dpi / 72.0
        pixels = width_pt * scale * height_pt * scale
        if pixels > self.max_page_pixels:
            scale *= math.sqrt(self.max_page_pixels / pixels) * 0.999
        return scale

    def render_page(self, page_number: int) -> np.ndarray:
        index = self._check_page(page_number)
        import pypdfium2 as pdfium

        with _PDFIUM_LOCK:
            try:
                page = self._pdf[index]
                try:
                    bitmap = page.render(scale=self._scale(page), rev_byteorder=True)
                    array = np.array(bitmap.to_numpy()[:, :, :3], dtype=np.uint8, copy=True)
                    bitmap.close()
                finally:
                    page.close()
            except pdfium.PdfiumError as exc:
                raise PermanentError(f"corrupt PDF page {page_number}: {exc}") from exc
        if array.size == 0:
            raise PermanentError(f"PDF page {page_number} has zero size")
        return array

    def text_layer(self, page_number: int) -> str | None:
        index = self._check_page(page_number)
        import pypdfium2.raw as pdfium_c

        with _PDFIUM_LOCK:
            page = self._pdf[index]
            try:
                textpage = page.get_textpage()
                try:
                    text = textpage.get_text_range()
                finally:
                    textpage.close()
                if not text.strip():
                    return None
                width, height = page.get_size()
                covered = 0.0
                for obj in page.get_objects(filter=[pdfium_c.FPDF_PAGEOBJ_IMAGE]):
                    left, bottom, right, top = obj.get_bounds()
                    covered += max(0.0, min(right, width) - max(left, 0.0)) * max(
                        0.0, min(top, height) - max(bottom, 0.0)
                    )
            finally:
                page.close()
        coverage = covered / max(1.0, width * height)
        minimum = self.text_layer_min_chars * (4 if coverage >= LARGE_IMAGE_COVERAGE else 1)
        text = "\n".join(line.rstrip() for line in text.replace("\r\n", "\n").split("\n"))
        text = text.replace("\x00", "").strip()
        return text if text_layer_quality(text, minimum) else None

    def text_lines(self, page_number: int) -> list[OcrLine]:
        """PDFium's text rectangles (runs of characters on one line, split where the text
        jumps, as between table cells), in render pixels."""
        index = self._check_page(page_number)
        lines: list[OcrLine] = []
        with _PDFIUM_LOCK:
            page = self._pdf[index]
            try:
                scale = self._scale(page)
                _, height = page.get_size()
                textpage = page.get_textpage()
                try:
                    for k in range(textpage.count_rects()):
                        left, bottom, right, top = textpage.get_rect(k)
                        text = " ".join(textpage.get_text_bounded(left, bottom, right, top).split())
                        if not text:
                            continue
                        box = (
                            left * scale,
                            (height - top) * scale,
                            right * scale,
                            (height - bottom) * scale,
                        )
                        lines.append(OcrLine(text=text, box=box, confidence=1.0))
                finally:
                    textpage.close()
            finally:
                page.close()
        return lines

    def close(self) -> None:
        with _PDFIUM_LOCK:
            self._pdf.close()


_COUNT = re.compile(rb"/Count\s+(\d+)")
_TYPE_PAGES = re.compile(rb"/Type\s*/Pages\b")
PAGE_TREE_NODES_CHECKED = 10_000
"""Page-tree ``/Count`` entries looked at, at most, to tell an empty PDF from a corrupt one: real
files have a few; a crafted one with millions only gets the plainer "corrupt" message."""
_DICT_REACH = 512


def _declares_no_pages(data: bytes) -> bool:
    """Whether every page-tree node in the file says /Count 0 (PDFium refuses such files).

    Linear in the file's size: each ``/Count`` is matched once and its page-tree ``/Type`` is
    looked for only within its dictionary's reach, never by scanning ahead from every ``/Type``
    (which took quadratic time on a file of repeated ``/Type /Pages``).
    """
    counts = []
    for number, match in enumerate(_COUNT.finditer(data)):
        if number >= PAGE_TREE_NODES_CHECKED:
            return False
        start, end = match.span()
        before = data[max(0, start - _DICT_REACH) : start]
        after = data[end : end + _DICT_REACH]
        if _TYPE_PAGES.search(before.rsplit(b"<<", 1)[-1]) or _TYPE_PAGES.search(
            after.split(b">>", 1)[0]
        ):
            counts.append(int(match[1]))
    return bool(counts) and all(count == 0 for count in counts)


class ImageDocument(Document):
    """A raster file through Pillow: each frame of a (multi-page) TIFF is a page."""

    def __init__(self, data: bytes, kind: FileKind, settings: Settings) -> None:
        super().__init__(settings)
        self.kind = kind
        self._limit = BOMB_FACTOR * self.max_page_pixels
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", Image.DecompressionBombWarning)
                self._image = Image.open(io.BytesIO(data))
                self.page_count = getattr(self._image, "n_frames", 1)
        except Image.DecompressionBombError as exc:
            raise PermanentError(
                f"image refused as a decompression bomb: {exc} (MAX_PAGE_PIXELS="
                f"{self.max_page_pixels})"
            ) from exc
        except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as exc:
            raise PermanentError(f"corrupt {kind.upper()} image: {exc}") from exc
        self._check_page_count()

    def render_page(self, page_number: int) -> np.ndarray:
        index = self._check_page(page_number)
        image = self._image
        try:
            image.seek(index)
            width, height = image.size
            pixels = width * height
            if pixels == 0:
                raise PermanentError(f"{self.kind.upper()} page {page_number} has zero size")
            if pixels > self._limit:
                raise PermanentError(
                    f"image refused as a decompression bomb: page {page_number} is "
                    f"{width}×{height} = {pixels} pixels, more than {BOMB_FACTOR} × "
                    f"MAX_PAGE_PIXELS={self.max_page_pixels}"
                )
            factor = min(1.0, math.sqrt(self.max_page_pixels / pixels))
            target = (max(1, int(width * factor)), max(1, int(height * factor)))
            if factor < 1.0 and self.kind == "jpeg":
                image.draft("RGB", target)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", Image.DecompressionBombWarning)
                image.load()
                frame = ImageOps.exif_transpose(image) if self.kind in ("jpeg", "webp") else image
                frame = _shrunk(frame, self.max_page_pixels)  # before any conversion
                frame = _to_rgb(frame)
            if frame.width * frame.height > self.max_page_pixels:
                frame = frame.resize(
                    (max(1, int(frame.width * factor)), max(1, int(frame.height * factor))),
                    Image.Resampling.LANCZOS,
                )
            return np.array(frame, dtype=np.uint8)
        except PermanentError:
            raise
        except (OSError, ValueError, SyntaxError, EOFError) as exc:
            raise PermanentError(
                f"corrupt or truncated {self.kind.upper()} image (page {page_number}): {exc}"
            ) from exc

    def close(self) -> None:
        self._image.close()


_WIDE_MODES = ("I;16", "I;16B", "I;16L", "I")
"""16- and 32-bit grayscale (film, microscope and medical scanners): stretched to 8 bits."""

STRIP_ROWS = 256
"""Rows converted at a time from a wide mode, so the conversion holds no full-size copy."""


def _shrunk(image: Image.Image, max_pixels: int) -> Image.Image:
    """``image`` within ``max_pixels``, shrunk before it is converted to RGB, so no full-size
    copy in a wider mode is ever made: first by an integer factor averaging blocks (wide
    grayscale strip by strip), then by LANCZOS to the exact size."""
    over = image.width * image.height / max_pixels
    if over <= 1.0:
        return image
    whole = int(math.sqrt(over))
    if image.mode in _WIDE_MODES:
        image = _wide_to_gray(image, max(1, whole))
    else:
        if image.mode == "1":
            image = image.convert("L")
        elif image.mode == "P":
            image = image.convert("RGBA" if "transparency" in image.info else "RGB")
        elif image.mode not in ("L", "LA", "RGB", "RGBA"):
            image = image.convert("RGB")
        if whole >= 2:
            image = image.reduce(whole)
    factor = math.sqrt(max_pixels / (image.width * image.height))
    if factor < 1.0:
        size = (max(1, int(image.width * factor)), max(1, int(image.height * factor)))
        image = image.resize(size, Image.Resampling.LANCZOS)
    return image


def _wide_to_gray(image: Image.Image, factor: int = 1) -> Image.Image:
    """A 16/32-bit grayscale page as 8-bit "L", stretched so its brightest pixel is white,
    averaged over ``factor``×``factor`` blocks, STRIP_ROWS rows of output at a time."""
    array = np.asarray(image)  # the decoded page's own bytes as an array: one copy of them
    peak = float(array.max()) or 1.0
    height, width = array.shape[0] // factor, array.shape[1] // factor
    gray = np.empty((height, width), dtype=np.uint8)
    for top in range(0, height, STRIP_ROWS):
        rows = min(STRIP_ROWS, height - top)
        block = array[top * factor : (top + rows) * factor, : width * factor]
        block = block.reshape(rows, factor, width, factor).astype(np.float32)
        gray[top : top + rows] = (block.mean(axis=(1, 3)) * (255.0 / peak)).astype(np.uint8)
    return Image.fromarray(gray, mode="L")


def _to_rgb(image: Image.Image) -> Image.Image:
    """RGB on a white background, whatever the mode (bilevel fax, palette, alpha, 16-bit)."""
    if image.mode in _WIDE_MODES:
        image = _wide_to_gray(image)
    if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    return image.convert("RGB")


def open_document(
    source: bytes | str | Path, settings: Settings, file_type: str | None = None
) -> Document:
    """Open a document; bad input (empty, corrupt, truncated, encrypted, zero pages, too many
    pages, unsupported type) raises :class:`PermanentError` naming the problem."""
    data = Path(source).read_bytes() if isinstance(source, str | Path) else bytes(source)
    kind = require_kind(data[:1024], file_type)
    if kind == "pdf":
        return PdfDocument(data, settings)
    return ImageDocument(data, kind, settings)


INK_CONTRAST = 60
"""A pixel is ink when it is this much darker than the paper (the page's bright level): scanner
noise stays well inside it, the faintest print is well beyond it."""

MIN_INK_PIXELS = 8
"""A page with fewer ink pixels than this in its 1-in-4 sample holds no text (dust, a speck)."""


def has_ink(image: np.ndarray) -> bool:
    """Whether a rendered page holds anything to read. Blank pages (a separator sheet, the back
    of a scan, a PDF's empty pages) skip OCR: it costs seconds on a page and finds nothing.

    Checks every fourth pixel of every fourth row in one channel: milliseconds on an A4 page."""
    sample = image[::4, ::4, 1] if image.ndim == 3 else image[::4, ::4]
    if sample.size == 0:
        return False
    paper = float(np.percentile(sample, 90))
    return int(np.count_nonzero(sample < paper - INK_CONTRAST)) >= MIN_INK_PIXELS
