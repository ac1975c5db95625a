"""Streams: Redis Streams read by event source mappings, as Lambda reads Kinesis.

A stream is registered per account under a Kinesis-style name (`registry.py`); a mapping
names it with `arn:aws:kinesis:REGION:ACCOUNT:stream/NAME`, and `RedisStreamPoller`
reads it through a consumer group of its own, handing the function AWS's Kinesis event.
Design: docs/decisions/0504-redis-streams.md.
"""
