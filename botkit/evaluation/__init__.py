"""Evaluate GPTs on labeled data: read it, run it, score it, report it."""
