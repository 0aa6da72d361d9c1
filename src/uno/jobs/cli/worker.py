"""`uno-jobs worker`."""

from __future__ import annotations
