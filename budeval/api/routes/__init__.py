"""Routers: thin translations between HTTP and `budeval.workflow.commands` / the store."""
