"""Integrations with other frameworks (imported lazily; each says how to install what it needs)."""
