"""Entities, value objects and domain errors. Imports nothing but the standard library and `idna` (the IDNA2008
and UTS #46 tables that decide when two email domains are the same)."""
