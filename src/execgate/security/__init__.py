"""Exposing the gateway safely: client keys, rate limits, the audit trail, the HTTP guard."""
