"""Hostile and broken inputs from the attack run of issue 14, built on demand (nothing big is committed)."""
