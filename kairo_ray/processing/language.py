"""Document language from stopword and character evidence (no model: OCR text is noisy anyway).

Each candidate language scores the share of word tokens that are among its most frequent function
words, plus a bonus for characters only it uses (ñ ¿ ¡ for Spanish). Function words dominate any
running text (~40 % of tokens in Spanish and English), survive OCR errors well, and tell es/en apart
on a few lines. Too little evidence gives None rather than a guess.
"""

from __future__ import annotations

import re
import unicodedata

_STOPWORD_LISTS = """
es: de la que el en y a los se del las un por con no una su para es al lo como más pero sus le
es: ya o fue este ha sí porque esta son entre cuando muy sin sobre también me hasta hay donde
es: quien desde todo nos durante todos uno les ni contra otros ese eso ante ellos e esto mí antes
es: algunos qué unos yo otro otras otra él tanto esa estos mucho quienes nada muchos cual poco
es: ella estar estas algunas algo nosotros mi mis tú te ti tu tus ellas era eran había habían
es: dijo así aquel aquella pues usted después siempre entonces
en: the of and to in a is that for it as was with be by on not he i this are or his from at
en: which but have an they you were her she there been one all we their has would when if so no
en: what can more about out up them some could into its than then do only other new these two
en: may any my now such like our over also how did very should because where most just those
en: through being here after each many before must while your
fr: le la les de des du et un une est que qui dans pour pas sur au aux ne se plus par avec il
fr: elle ce cette sont mais ou nous vous leur été être fait comme tout
pt: de a o que e do da em um para é com não uma os no se na por mais as dos como mas foi ao ele
pt: das tem à seu sua ou ser quando muito há nos já está eu também só pelo pela até
de: der die und in den von zu das mit sich des auf für ist im dem nicht ein eine als auch es an
de: werden aus er hat dass sie nach wird bei einer um am sind noch wie einem über
it: di e il la che in a per un è non una sono del della con si le da i gli al lo ma come dei nel
it: alla più anche questo ha delle ci se io quando molto
"""
"""The most frequent function words per language, one ``lang: words`` row (rows may repeat)."""


def _parse_stopwords(table: str) -> dict[str, frozenset[str]]:
    words: dict[str, set[str]] = {}
    for row in table.strip().splitlines():
        lang, _, listed = row.partition(":")
        words.setdefault(lang.strip(), set()).update(listed.split())
    return {lang: frozenset(found) for lang, found in words.items()}


_STOPWORDS = _parse_stopwords(_STOPWORD_LISTS)

_UNIQUE_CHARS: dict[str, str] = {"es": "ñ¿¡", "de": "ßäöü", "fr": "çœèêëîï", "pt": "ãõç"}

MIN_TOKENS = 5
"""Fewer word tokens than this: no decision."""

MIN_SHARE = 0.08
"""The winner must have at least this share of stopword tokens."""


def language_scores(text: str) -> dict[str, float]:
    """Per language: share of tokens that are its stopwords, plus unique-character evidence."""
    normal = unicodedata.normalize("NFC", text.lower())
    tokens = re.findall(r"[^\W\d_]+", normal)
    if not tokens:
        return dict.fromkeys(_STOPWORDS, 0.0)
    scores = {}
    for lang, words in _STOPWORDS.items():
        share = sum(1 for token in tokens if token in words) / len(tokens)
        unique = sum(normal.count(ch) for ch in _UNIQUE_CHARS.get(lang, ""))
        scores[lang] = share + min(0.1, 2.0 * unique / len(tokens))
    return scores


def detect_language(text: str) -> str | None:
    """ISO 639-1 code of the text's language (es, en, fr, pt, de, it), or None if unclear."""
    tokens = re.findall(r"[^\W\d_]+", text)
    if len(tokens) < MIN_TOKENS:
        return None
    scores = language_scores(text)
    best = max(scores, key=scores.__getitem__)
    return best if scores[best] >= MIN_SHARE else None
