"""Secrets: where an API key lives between the request and the engine process.

Local mode keeps each secret in its own 0600 file under `$BUDEVAL_HOME/secrets`, the local
counterpart of a Kubernetes Secret: referenced by name everywhere else, read only at the moment a
process is started, deleted when the evaluation ends. Nothing here ever logs a value.
"""

from budeval.secrets.local import LocalSecretStore

__all__ = ["LocalSecretStore"]
