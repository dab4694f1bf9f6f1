"""mkdocs hook (placeholder)."""
