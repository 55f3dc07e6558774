"""Shared helpers behind the four entry-point scripts (kept small and flat on purpose)."""
