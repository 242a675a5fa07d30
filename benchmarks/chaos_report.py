"""Run the chaos suite (``tests/chaos``, issue 19) and write its table to
``benchmarks/reports/chaos.md``: for each fault, the jobs of its batch, how they ended, and the
time from the fault to the last one's end.

    python benchmarks/chaos_report.py          # extra arguments go to pytest

It starts Ray clusters and ends any other Ray session on this machine (``ray stop --force``).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from reporting import header, publish

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.fixtures.chaos import (  # noqa: E402  (the repository root is on the path now)
    FETCH_DEADLINE_SECONDS,
    PAGE_TIMEOUT_SECONDS,
    ROWS_ENV,
    FaultRow,
    markdown_table,
)

EXPLAINED = f"""\
Each fault runs against a fresh batch of small generated scans (one-page PNGs and two-page
image-only PDFs, so every page goes through OCR) queued the way Kairo queues them, and is
injected while the batch runs. One one-node cluster (2 CPUs) serves the faults in turn; the
raylet row has a two-node cluster of its own, the worker in a network namespace. The database
is a PostgreSQL 16 of the suite's own, reached by the service through a real pgbouncer 1.18 in
transaction mode (as Supabase's pooler). Short limits keep each fault within seconds:
MAX_RETRIES=2, RETRY_BACKOFF_SECONDS=1, JOB_TIMEOUT_MINUTES=0.5 (the lease),
PAGE_TIMEOUT_SECONDS={PAGE_TIMEOUT_SECONDS}, FETCH_DEADLINE_SECONDS={FETCH_DEADLINE_SECONDS}.

- **jobs**: documents of the batch (the poison page and the trickling download add one each).
- **lost**: jobs not ended (completed or failed) 150 s after the fault (240 s for the raylet).
- **duplicated**: documents with a second job, result, page, chunk index or webhook row.
  The suite also fails on a document whose text or chunks hold another document's number.
- **recovery s**: from the fault to the last job of the batch ended (polled every 0.5 s); the
  baseline row is the same batch with no fault.
- **retried**: jobs that needed more than one attempt, with the errors their retries recorded.

Reading it:

- PostgreSQL restart: pgbouncer waits `server_login_retry` (15 s by default) before it tries
  again a server that refused it, so the service sees the database back that much later.
- Driver's connections terminated: `pg_terminate_backend` on every server connection of the
  database, three times a second apart. Behind pgbouncer the driver's are among them and
  cannot be told apart (asyncpg's RESET ALL at each release clears their application_name).
- SIGKILL of the driver: jobs the dead driver held spend an attempt (by design: the crash may
  have been the document's doing); the restarted driver takes them back at once.
- Stalled OCR call and dead node: a page given up at PAGE_TIMEOUT_SECONDS spends its job's
  attempt. Ray runs a dead node's tasks again once it has declared the node dead; pages still
  waiting for that at 20 s are the retries of the raylet row (the default limit is 600 s).
- Found by this suite and fixed: a database restart as a job looked up its stored vectors
  threw the read pages away and spent an attempt (now retried like completion), and a page in
  an OCR replica that was killed spent an attempt of every job with a page in it (the page is
  now sent once more, to the replica Serve starts in its place).
"""


def main() -> int:
    rows_file = Path(tempfile.mkstemp(prefix="chaos-rows-", suffix=".json")[1])
    command = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-m", "chaos"]
    started = time.monotonic()
    result = subprocess.run(
        [*command, *sys.argv[1:]], cwd=ROOT, env={**os.environ, ROWS_ENV: str(rows_file)}
    )
    seconds = time.monotonic() - started
    text = rows_file.read_text()
    rows = [FaultRow(**row) for row in json.loads(text)] if text else []
    rows_file.unlink()
    outcome = "passed" if result.returncode == 0 else f"FAILED (pytest exit {result.returncode})"
    report = (
        header("Chaos suite: every job ends")
        + f"- suite: `pytest -m chaos`, {outcome}, {seconds:.0f} s in all (clusters included)\n\n"
        + EXPLAINED
        + "\n"
        + markdown_table(rows)
        + "\n"
    )
    publish(report, ROOT / "benchmarks" / "reports" / "chaos.md")
    return result.returncode


if __name__ == "__main__":
    sys.exit(main())
