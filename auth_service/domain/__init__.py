"""Entities, value objects and domain errors. Imports nothing outside the standard library."""
