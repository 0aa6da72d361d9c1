"""The dashboard page (``index.html``), served at ``/dashboard`` by ``create_app``."""
