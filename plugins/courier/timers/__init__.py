"""Courier timers."""
