"""In-run wrappers of the real engines: standalone scripts, executed by the engine's own python.

Each `<engine>_runner.py` imports only the standard library and its engine, never budeval: it runs
inside the engine's virtualenv (local mode) or image (Kubernetes), where budeval is not installed.
Its container path is `/opt/budeval/runners/`; local mode maps that to this directory.
"""
