"""The durable evaluation workflow (DBOS) and the service pieces that feed it.

`evaluation.py` reads top to bottom like the business process; every I/O is a step in `steps.py`;
`relay.py` turns backend status changes into workflow messages; `runtime.py` owns DBOS.
"""
