"""Use cases and the ports (Protocols) they need. Depends only on the domain."""
