"""Courier reports."""
