"""`uno-jobs scheduler`."""

from __future__ import annotations
