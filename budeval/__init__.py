"""budeval: evaluate OpenAI-compatible LLM endpoints on benchmark datasets, durably.

The public surface is small on purpose: the service is driven over HTTP or the CLI, and the
Python names exported here are the ones other packages (engines, backends, tests) build on.
"""

from budeval.errors import BudevalError, PermanentError, TransientError

__version__ = "0.1.0"

__all__ = ["BudevalError", "PermanentError", "TransientError", "__version__"]
