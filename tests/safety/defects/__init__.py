"""Planted defects: variants of the collection's clients that each break one safety promise.

Each is a context manager that patches the real code for the duration of a check; the suite proves its checks
fail while a defect is in place (``Cases.defect``).
"""
