"""Ledgers (台账) — issue 4."""
