"""`uno-jobs serve`."""

from __future__ import annotations
