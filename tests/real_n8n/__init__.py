"""Tests and harness that run against a real n8n server."""
