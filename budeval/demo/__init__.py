"""The demo: generated datasets, a deterministic OpenAI-compatible endpoint, and `budeval demo`.

Nothing here is a model. The endpoint answers the generated datasets with a configured accuracy so
that budeval (and its tests) can run real engines end to end, offline, with known right scores.
"""
