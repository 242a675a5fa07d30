"""kairo-ray: Kairo's document OCR and embedding service as a Ray application.

Data flows one way: queue -> fetch -> render -> OCR -> chunk -> embed -> store.
"""

__version__ = "0.1.0"

import os as _os

# Ray 2.60 turns token authentication on for a new head, and a client reads RAY_AUTH_MODE when ray
# is imported: set before any kairo_ray module imports ray, so the CLI can reach our clusters.
_os.environ.setdefault("RAY_AUTH_MODE", "token")
