"""Courier demo."""
