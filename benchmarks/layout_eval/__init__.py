"""Layout evaluation set: synthetic scanned invoices and letters with known tables and cells.

- :mod:`.content`: what the pages say (hand-written parties, items and page specifications);
- :mod:`.generate`: draws the pages and writes ``page-XX.jpg`` + ``page-XX.json`` + ``index.json``;
- :mod:`.dataset`: :func:`load_eval_set` reads a written set back as :class:`EvalPage` objects;
- :mod:`.score`: cell accuracy of predicted tables, table matching by box overlap, CER.

See README.md in this folder.
"""

from benchmarks.layout_eval.dataset import EvalPage, TruthTable, load_eval_set, scanned_box

__all__ = ["EvalPage", "TruthTable", "load_eval_set", "scanned_box"]
