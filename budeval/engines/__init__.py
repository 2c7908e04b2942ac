"""Engines: adapters that turn an evaluation spec into run specs and engine output into scores.

Deliberately empty of imports: engine programs (e.g. `python -m budeval.engines.smoke_program`)
run inside engine processes and must start fast. The registry is `budeval.engines.registry`.
"""
