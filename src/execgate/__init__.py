"""execgate: one GraphQL API over many workflow-automation instances."""

__version__ = "0.1.0"
