"""The staging stack's layers, one Pulumi ComponentResource each (wired in __main__.py)."""
