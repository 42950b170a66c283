"""Courier pages."""
