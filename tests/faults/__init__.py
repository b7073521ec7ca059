"""A fault-injecting HTTP/1.1 proxy, its fixtures and a resource sampler, for network tests."""
