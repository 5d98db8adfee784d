"""Deterministic layer tars: writing, compressing, reading and applying them."""
