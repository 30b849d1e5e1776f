"""Chroma-backed retrieval, one collection per tenant."""
