"""HTTP handlers, one module per part of the API (plus admin and file routes)."""
