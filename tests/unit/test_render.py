"""Rendering: every bad-input case gives a PermanentError naming the problem; good input renders.

The small PDFs are written here byte by byte (a real encrypted one included: RC4 40-bit with a
user password, which PDFium can open only with that password), so each case is exactly what its
name says. Real scans come from ../shared/eval.
"""

from __future__ import annotations

import hashlib
import io
import struct
import zlib
from pathlib import Path

import numpy as np
import pypdfium2 as pdfium
import pytest
from PIL import Image, ImageDraw

from kairo_ray.errors import PermanentError
from kairo_ray.processing.render import open_document, text_layer_quality
from kairo_ray.settings import Settings

SENTENCE = (
    "Informe anual de la empresa sobre el ejercicio fiscal, con las cuentas auditadas y la "
    "memoria de actividades del consejo de administración."
)


def settings(**overrides: object) -> Settings:
    return Settings(_env_file=None, **overrides)  # type: ignore[call-arg]


def build_pdf(objects: list[bytes], trailer_extra: bytes = b"") -> bytes:
    """A PDF whose object i+1 is objects[i], with a correct xref table and trailer."""
    out = b"%PDF-1.4\n"
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R %s>>\n" % (len(objects) + 1, trailer_extra)
    out += b"startxref\n%d\n%%%%EOF\n" % xref
    return out


def _stream(data: bytes) -> bytes:
    return b"<< /Length %d >>\nstream\n" % len(data) + data + b"\nendstream"


def text_pdf(lines: list[str], content_key: bytes | None = None) -> list[bytes]:
    """Objects of a one-page PDF with real (Helvetica) text; optionally RC4-encrypted content."""
    ops = b"BT /F1 11 Tf 14 TL 50 740 Td "
    for line in lines:
        ops += b"(" + line.encode("latin-1") + b") Tj T* "
    ops += b"ET"
    if content_key is not None:
        ops = _rc4(_object_key(content_key, 4), ops)
    return [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R "
        b"/Resources << /Font << /F1 5 0 R >> >> >>",
        _stream(ops),
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>",
    ]


_PAD = bytes.fromhex("28BF4E5E4E758A4164004E56FFFA01082E2E00B6D0683E802F0CA9FE6453697A")


def _rc4(key: bytes, data: bytes) -> bytes:
    state = list(range(256))
    j = 0
    for i in range(256):
        j = (j + state[i] + key[i % len(key)]) % 256
        state[i], state[j] = state[j], state[i]
    i = j = 0
    out = bytearray()
    for byte in data:
        i = (i + 1) % 256
        j = (j + state[i]) % 256
        state[i], state[j] = state[j], state[i]
        out.append(byte ^ state[(state[i] + state[j]) % 256])
    return bytes(out)


def _object_key(key: bytes, number: int) -> bytes:
    digest = hashlib.md5(key + struct.pack("<I", number)[:3] + b"\x00\x00").digest()
    return digest[: min(16, len(key) + 5)]


def encrypted_pdf(user_password: bytes = b"secret") -> bytes:
    """Standard security handler, revision 2 (RC4 40-bit), as in PDF 1.7 §7.6.3 algorithms 2-4."""
    file_id = bytes(range(16))
    owner_key = hashlib.md5((b"owner" + _PAD)[:32]).digest()[:5]
    o_value = _rc4(owner_key, (user_password + _PAD)[:32])
    permissions = struct.pack("<i", -4)
    key = hashlib.md5((user_password + _PAD)[:32] + o_value + permissions + file_id).digest()[:5]
    u_value = _rc4(key, _PAD)
    objects = text_pdf([SENTENCE], content_key=key)
    objects.append(
        b"<< /Filter /Standard /V 1 /R 2 /O <%s> /U <%s> /P -4 >>"
        % (o_value.hex().encode(), u_value.hex().encode())
    )
    trailer = b"/Encrypt 6 0 R /ID [<%s> <%s>] " % (file_id.hex().encode(), file_id.hex().encode())
    return build_pdf(objects, trailer)


def image_bytes(image: Image.Image, fmt: str, **params: object) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **params)
    return buffer.getvalue()


def page_image(label: str, size: tuple[int, int] = (400, 300)) -> Image.Image:
    image = Image.new("RGB", size, "white")
    ImageDraw.Draw(image).text((20, 20), label, fill="black")
    return image


def _bad(source: bytes | Path, match: str, **overrides: object) -> None:
    with pytest.raises(PermanentError, match=match):
        document = open_document(source, settings(**overrides))
        for number in range(1, document.page_count + 1):
            document.render_page(number)


# --- bad input --------------------------------------------------------------------------------


def test_empty_file() -> None:
    _bad(b"", "empty file")


def test_unsupported_type() -> None:
    _bad(b"just some text, not a document", "unsupported file type")
    _bad(b"GIF89a" + b"\x00" * 100, "unsupported file type")


def test_corrupt_pdf() -> None:
    _bad(b"%PDF-1.7\n" + bytes(range(256)) * 8 + b"\n%%EOF\n", "corrupt PDF")


def test_truncated_pdf(eval_dir: Path) -> None:
    data = (eval_dir / "multipage_pdfs/fondue_galdos_luchana_5p.pdf").read_bytes()
    _bad(data[:2000], "truncated PDF")
    _bad(data[: len(data) // 2], "truncated PDF")


def test_encrypted_pdf() -> None:
    data = encrypted_pdf()
    _bad(data, "encrypted PDF")
    # The sample is a genuine encrypted PDF: with its password PDFium opens it and reads the text.
    pdf = pdfium.PdfDocument(data, password="secret")
    assert "Informe anual" in pdf[0].get_textpage().get_text_range()
    pdf.close()


def test_zero_page_pdf() -> None:
    data = build_pdf(
        [b"<< /Type /Catalog /Pages 2 0 R >>", b"<< /Type /Pages /Kids [] /Count 0 >>"]
    )
    _bad(data, "PDF has no pages")


def test_too_many_pages() -> None:
    pages = [page_image(f"page {n}") for n in range(3)]
    pdf = image_bytes(pages[0], "PDF", save_all=True, append_images=pages[1:])
    _bad(pdf, r"too many pages: 3 pages, more than MAX_PAGES=2", max_pages=2)
    pages = [page_image(f"page {n}") for n in range(3)]  # fresh: Pillow's PDF writer alters them
    tiff = image_bytes(pages[0], "TIFF", save_all=True, append_images=pages[1:])
    _bad(tiff, r"too many pages: 3 pages, more than MAX_PAGES=2", max_pages=2)


def test_corrupt_and_truncated_images() -> None:
    png = image_bytes(page_image("hello"), "PNG")
    _bad(png[: len(png) // 2], "corrupt or truncated PNG")
    jpeg = image_bytes(page_image("hello"), "JPEG")
    _bad(jpeg[: len(jpeg) // 2], "corrupt or truncated JPEG")
    _bad(b"\x89PNG\r\n\x1a\n" + b"\x00" * 64, "corrupt PNG")


def _png_header_claiming(width: int, height: int) -> bytes:
    """A small valid-looking PNG whose header declares a huge canvas (a decompression bomb)."""
    raw = zlib.compress(b"\x00" * 1024)
    ihdr = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)

    def chunk(kind: bytes, body: bytes) -> bytes:
        return (
            struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
        )

    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", raw) + chunk(b"IEND", b"")


def test_pixel_bomb_refused() -> None:
    _bad(_png_header_claiming(100_000, 100_000), "decompression bomb")
    # Above BOMB_FACTOR × MAX_PAGE_PIXELS but below Pillow's own bomb limit: refused by us.
    big = Image.new("L", (2100, 2100), 255)
    _bad(image_bytes(big, "PNG"), "decompression bomb", max_page_pixels=1_000_000)


def test_large_image_downscaled_within_limit() -> None:
    big = Image.new("RGB", (1500, 1500), "white")
    for fmt in ("PNG", "JPEG"):
        with open_document(image_bytes(big, fmt), settings(max_page_pixels=1_000_000)) as document:
            array = document.render_page(1)
        assert array.shape[0] * array.shape[1] <= 1_000_000
        assert array.shape[0] >= 900 and array.shape[2] == 3


def test_huge_pdf_page_downscaled(eval_dir: Path) -> None:
    """Page 2 of ocrmypdf_multipage.pdf is a 9000×9000 px scan on a 30-inch page."""
    limit = 10_000_000
    path = eval_dir / "multipage_pdfs/ocrmypdf_multipage.pdf"
    with open_document(path, settings(max_page_pixels=limit)) as document:
        assert document.page_count == 6
        array = document.render_page(2)
        assert array.shape[0] * array.shape[1] <= limit
        assert abs(array.shape[0] - array.shape[1]) <= 1 and array.shape[0] > 3000
        small = document.render_page(1)
    assert small.shape == (1309, 1067, 3)  # normal pages keep RENDER_DPI (200)


def test_page_out_of_range(eval_dir: Path) -> None:
    with (
        open_document(eval_dir / "en_tesseract_testing/phototest.tif", settings()) as document,
        pytest.raises(ValueError),
    ):
        document.render_page(2)


# --- good input -------------------------------------------------------------------------------


def test_pdf_render_dpi_and_rgb(eval_dir: Path) -> None:
    path = eval_dir / "multipage_pdfs/ocrmypdf_cardinal.pdf"
    with open_document(path, settings(render_dpi=100)) as document:
        assert document.kind == "pdf" and document.page_count == 4
        portrait, landscape = document.render_page(1), document.render_page(2)
    assert portrait.shape == (1100, 850, 3) and portrait.dtype == np.uint8
    assert landscape.shape == (850, 1100, 3)
    assert portrait.mean() > 200  # white paper, black text: not an inverted or BGRA buffer


def test_multipage_tiff() -> None:
    colours = ["red", "green", "blue"]
    pages = [Image.new("RGB", (120, 80), colour) for colour in colours]
    data = image_bytes(pages[0], "TIFF", save_all=True, append_images=pages[1:])
    with open_document(data, settings()) as document:
        assert document.kind == "tiff" and document.page_count == 3
        rendered = [document.render_page(n) for n in (3, 1, 2)]
    channel = [int(np.argmax(page[40, 60])) for page in rendered]
    assert channel == [2, 0, 1]


def test_g4_fax_tiff(eval_dir: Path) -> None:
    path = eval_dir / "en_tesseract_testing/8071_093.3B.tif"
    with Image.open(path) as original:
        assert original.info.get("compression") == "group4" and original.mode == "1"
    with open_document(path, settings()) as document:
        assert document.page_count == 1
        array = document.render_page(1)
    assert array.shape == (2550, 3312, 3) and array.dtype == np.uint8
    assert set(np.unique(array)) <= {0, 255}


def test_image_with_alpha_on_white() -> None:
    image = Image.new("RGBA", (50, 50), (0, 0, 0, 0))
    with open_document(image_bytes(image, "PNG"), settings()) as document:
        assert (document.render_page(1) == 255).all()


def test_type_comes_from_bytes_not_declared_type(eval_dir: Path) -> None:
    data = (eval_dir / "en_tesseract_testing/phototest.tif").read_bytes()
    with open_document(data, settings(), file_type="application/pdf") as document:
        assert document.kind == "tiff"


# --- text layer -------------------------------------------------------------------------------


def test_good_text_layer_is_used() -> None:
    data = build_pdf(text_pdf([SENTENCE, "Segunda línea del documento con más texto."]))
    with open_document(data, settings()) as document:
        text = document.text_layer(1)
    assert text is not None and text.startswith("Informe anual de la empresa")
    assert "Segunda línea" in text


def test_short_text_layer_is_not_used() -> None:
    data = build_pdf(text_pdf(["Page 1 of 5"]))
    with open_document(data, settings()) as document:
        assert document.text_layer(1) is None


def test_scanned_pages_have_no_text_layer(eval_dir: Path) -> None:
    path = eval_dir / "multipage_pdfs/ocrmypdf_multipage.pdf"
    with open_document(path, settings()) as document:
        # Page 4 carries an old OCR text layer of chart debris ("sw | \ + 400 + 300 ...").
        assert [document.text_layer(n) for n in range(1, 7)] == [None] * 6


def test_text_layer_quality_rule() -> None:
    assert text_layer_quality(SENTENCE, 50)
    assert not text_layer_quality(SENTENCE, 500)
    garbage = "sw | \\ \n+ \n400 + \n300 —esupport \nBH No vote{note 1] \n200 4 t= Oppose \n" * 2
    assert not text_layer_quality(garbage, 50)
    assert not text_layer_quality("\ue000\ue001\ue002 " * 40, 50)  # private-use glyph codes
    assert not text_layer_quality("l I i 1 | l I i ! " * 20, 50)  # single-letter OCR debris


def test_wide_and_bilevel_pages_over_the_limit_are_shrunk_before_conversion() -> None:
    """A 16-bit scan and a fax page over MAX_PAGE_PIXELS come out within it, stretched to 8 bits
    (the brightest pixel white) or as gray, without a full-size copy in a wider mode."""
    import numpy as np

    rows = np.arange(1800)[:, None]
    sixteen = np.where((rows // 50) % 5 == 0, 6000, 50000).astype(np.uint16) * np.ones(
        (1, 2000), np.uint16
    )
    fax = Image.fromarray(
        np.where((rows // 50) % 5 == 0, 0, 255).astype(np.uint8) * np.ones((1, 2000), np.uint8)
    ).convert("1")
    for image in (Image.fromarray(sixteen), fax):
        with open_document(image_bytes(image, "TIFF"), settings(max_page_pixels=1_000_000)) as doc:
            array = doc.render_page(1)
        assert array.shape[0] * array.shape[1] <= 1_000_000 and array.shape[2] == 3
        assert array.shape[0] * array.shape[1] >= 0.9 * 1_000_000  # not more than needed
        assert array.max() >= 250 and array.min() <= 40  # paper white, bars dark
