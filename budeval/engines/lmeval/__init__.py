"""The lm-evaluation-harness engine: `engine` (the adapter, registered on import), `options`
(`extra_args` as lm-eval understands them), `tasks` (task YAMLs: demo and operator files) and
`results` (reading its output). budeval never imports lm-eval itself."""

from budeval.engines.lmeval.engine import LmEvalEngine

__all__ = ["LmEvalEngine"]
