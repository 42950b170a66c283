"""Courier jobs."""
