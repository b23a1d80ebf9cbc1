"""The REST API (docs/rest.md); app.py assembles it."""
