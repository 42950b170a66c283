"""Courier runtime."""
