"""Normalised results: what every engine's output is parsed into."""
