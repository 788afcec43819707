"""Adaptive Cards (schema 1.5): pure functions from domain objects to card JSON."""
