"""Serving an index: the HTTP API (`http.py`). It calls the same `Index` facade as the CLI."""
