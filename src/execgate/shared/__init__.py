"""What the replicas of one gateway share through Redis (``[shared] redis_url``).

``redis`` holds the connection and its health: a command that fails or takes longer than
``[shared] timeout_seconds`` marks Redis down for ``retry_seconds``, during which every
replica works alone (its own buckets, cache and persisted queries) without waiting on Redis
again; one log line and the ``execgate_redis_*`` metrics say so. ``ratelimit``,
``executions`` and ``persisted`` are the shared stores.
"""
