"""Courier api."""
