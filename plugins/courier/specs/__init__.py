"""Courier specs."""
