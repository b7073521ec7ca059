"""What execgate tells its operators: metrics, request IDs, log fields and traces.

A leaf beside the domain: every layer may report here, and this package imports no other part
of execgate. ``context`` holds the request's ID, client and operation for the log lines and
the backend requests made on its behalf; ``metrics`` the Prometheus registry of one app;
``seam`` what the one HTTP seam to the backends reports per request.
"""
