"""The OpenCompass engine: `engine` (the adapter, registered on import), `args` (generation
arguments), `datasets` (the allowlist and dataset kinds), `recipe` (the pinned install) and
`results` (reading its output). budeval never imports OpenCompass itself."""

from budeval.engines.opencompass.engine import OpenCompassEngine, api_base, model_abbr

__all__ = ["OpenCompassEngine", "api_base", "model_abbr"]
