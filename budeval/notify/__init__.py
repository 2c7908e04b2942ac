"""Notification sinks: deliver outbox events after commit (a log sink for now)."""
