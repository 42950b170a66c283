"""Courier db."""
