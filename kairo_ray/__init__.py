"""kairo-ray: Kairo's document OCR and embedding service as a Ray application.

Data flows one way: queue -> fetch -> render -> OCR -> chunk -> embed -> store.
"""

__version__ = "0.1.0"
