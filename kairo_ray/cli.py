"""The ``kairo-ray`` command line. Each subcommand registers itself in :func:`build_parser`.

``kairo-ray ocr FILE...`` runs the processing stages in this process on local files: no cluster,
no database. It is the quickest way to see what the service would store for a document.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from kairo_ray.errors import KairoError
from kairo_ray.settings import ConfigError, Settings, load_settings

Handler = Callable[[argparse.Namespace, Settings], int]


def _ocr(args: argparse.Namespace, settings: Settings) -> int:
    from kairo_ray.processing.embed import Embedder
    from kairo_ray.processing.ocr import OcrOptions, get_engine
    from kairo_ray.processing.pipeline import process_document

    if args.dpi is not None:
        settings = settings.model_copy(update={"render_dpi": args.dpi})
    engine = get_engine(args.engine or settings.ocr_engine, OcrOptions.from_settings(settings))
    embedder = Embedder.from_settings(settings) if args.embed else None
    failures = 0
    reports = []
    for name in args.files:
        path = Path(name)
        try:
            if not path.is_file():
                raise KairoError(f"no such file: {path}")
            size = path.stat().st_size
            if size > settings.max_file_size_bytes:
                raise KairoError(
                    f"file too large: {size} bytes, more than "
                    f"MAX_FILE_SIZE_MB={settings.max_file_size_mb:g} MB"
                )
            result = process_document(path, settings, engine, embedder, name=name)
        except (KairoError, OSError) as exc:
            failures += 1
            print(f"kairo-ray ocr: {name}: {exc}", file=sys.stderr)
            reports.append({"file": name, "error": str(exc)})
            continue
        if args.json:
            reports.append(
                {
                    "file": name,
                    "kind": result.kind,
                    "language": result.language,
                    "page_count": len(result.pages),
                    "timings": result.timings,
                    "pages": [page.model_dump() for page in result.pages],
                    "chunks": [chunk.model_dump(exclude={"embedding"}) for chunk in result.chunks],
                }
            )
        else:
            print(
                f"==> {name} ({result.kind}, {len(result.pages)} page(s), "
                f"language {result.language or 'unknown'}) <=="
            )
            for page in result.pages:
                print(f"--- page {page.page_number} ({page.source}, {page.seconds:.2f} s) ---")
                print(page.text)
            if result.chunks:
                print(f"--- {len(result.chunks)} chunk(s) embedded ---")
            sys.stdout.flush()
    if args.json:
        json.dump({"documents": reports}, sys.stdout, ensure_ascii=False, indent=2)
        print()
    engine.close()
    return 1 if failures else 0


def _add_ocr(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "ocr",
        help="OCR local files in this process (no cluster, no database)",
        description="Render, OCR and detect the language of local PDF/image files; print each "
        "page's text, or everything as JSON. A bad file is reported and the rest still run.",
    )
    parser.add_argument("files", nargs="+", metavar="FILE", help="PDF, PNG, JPEG, TIFF, ...")
    parser.add_argument(
        "--json", action="store_true", help="pages, lines, boxes, confidences, timings"
    )
    parser.add_argument("--engine", help="OCR engine (default OCR_ENGINE: paddle)")
    parser.add_argument("--dpi", type=int, help="PDF render resolution (default RENDER_DPI)")
    parser.add_argument(
        "--embed", action="store_true", help="also chunk and embed the text (report the chunks)"
    )
    parser.set_defaults(handler=_ocr)


def build_parser() -> argparse.ArgumentParser:
    """The top-level parser; add a subcommand with another ``_add_*(subparsers)``."""
    parser = argparse.ArgumentParser(
        prog="kairo-ray", description="Kairo's document OCR and embedding service on Ray."
    )
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    _add_ocr(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        settings = load_settings()
    except ConfigError as exc:
        print(f"kairo-ray: {exc}", file=sys.stderr)
        return 2
    handler: Handler = args.handler
    return handler(args, settings)


if __name__ == "__main__":
    sys.exit(main())
