"""Backends: where runs execute (local processes, Kubernetes Jobs) behind one contract.

Deliberately empty of imports: the local run supervisor is started as
`python -m budeval.backends.local.supervisor` and must not pay for pydantic at start-up.
The contract is in `budeval.backends.base`.
"""
