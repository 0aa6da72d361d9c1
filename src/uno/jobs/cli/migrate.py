"""`uno-jobs migrate`."""

from __future__ import annotations
