"""`uno-jobs token`."""

from __future__ import annotations
