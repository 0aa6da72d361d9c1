"""Workers: fetch jobs, run them, and report back (see ``Worker``)."""

from __future__ import annotations

from uno.jobs.worker.worker import Worker
from uno.jobs.workers import default_worker_id

__all__ = ["Worker", "default_worker_id"]
