"""Courier stats."""
