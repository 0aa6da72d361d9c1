"""``python -m uno.jobs.cli``: the ``uno-jobs`` command."""

from __future__ import annotations

from uno.jobs.cli import main

if __name__ == "__main__":
    main()
