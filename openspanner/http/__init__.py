"""The REST API (README: REST API); app.py assembles it."""
