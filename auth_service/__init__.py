"""AIDLC Unit 1: authentication and profile service (ports and adapters)."""
