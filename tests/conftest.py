"""Settings for every test: the service runs as a local deployment (ENVIRONMENT=local).

Without it the service would take the environment for a real deployment and demand a signing key; the
subprocesses the tests start (the service, `make run`) inherit it too. Tests that check a deployment's own
environment (the contract test) pass theirs explicitly.
"""

import os

os.environ["ENVIRONMENT"] = "local"
