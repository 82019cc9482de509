"""The job engine: a queued row in, mastered and checked audio out."""
