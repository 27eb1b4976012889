"""JSON API under /api/v1, described by openapi.py (served at /api/openapi.json)."""
