"""Clean-up of a recognised line: PP-OCR's CJK look-alikes back to ASCII on Latin-script pages."""

from __future__ import annotations

import re

_CONFUSABLES = str.maketrans(
    {"一": "-", "﹣": "-", "，": ",", "。": ".", "：": ":", "；": ";", "《": "«", "》": "»"}
)
_FULLWIDTH = re.compile("[\uff01-\uff5e]")
_CJK = re.compile("[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff]")
LATIN_LANGUAGES = frozenset({"es", "en", "fr", "pt", "de", "it", "ca", "gl", "eu", "nl"})


def clean_text(text: str, latin_only: bool = True) -> str:
    """Tidy a recognised line. PP-OCR's dictionaries (v5, v6) are multilingual, CJK included: on
    pages in Latin-script languages their CJK look-alikes for dashes and punctuation map back to
    ASCII, full-width letters and digits to their ASCII forms, and stray ideographs (misreadings
    of ornaments and specks, seen on the eval scans) are dropped."""
    text = text.translate(_CONFUSABLES)
    text = _FULLWIDTH.sub(lambda m: chr(ord(m.group()) - 0xFEE0), text)
    if latin_only:
        text = _CJK.sub("", text)
    return " ".join(text.split())
