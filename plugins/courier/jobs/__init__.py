"""Delayed requests: clients push files and submit jobs; a slow processor does them; Courier waits in the triggerer."""
