"""Events: the CloudEvents envelope of every status change, written to an outbox."""
