"""Document processing stages: plain Python, no Ray, no database; the caller owns every model.

- :mod:`.fetch` — ``await fetch(url_or_path, settings) -> FetchedFile`` (size cap, SSRF guard,
  type from magic numbers, temp file cleanup).
- :mod:`.render` — ``open_document(bytes | path, settings) -> Document`` with ``page_count``,
  ``render_page(n)`` (RGB uint8) and ``text_layer(n)``, lazily per page.
- :mod:`.ocr` — ``get_engine(name, OcrOptions) -> OcrEngine`` (a package: one module per engine);
  ``engine.recognize(image, n) -> PageResult``.
- :mod:`.reading_order` — the page geometry behind the text order.
- :mod:`.language` — ``detect_language(text)``.
- :mod:`.chunk` — ``chunk_pages(pages, size, overlap, count_tokens, max_tokens) -> list[Chunk]``.
- :mod:`.embed` — ``Embedder`` (backends behind the same registry shape as the OCR engines).
- :mod:`.pipeline` — the flow, once: ``read_page`` and ``finish_document`` over engine interfaces.
- :mod:`.evaluation` — CER scoring against ../shared/eval.
"""
