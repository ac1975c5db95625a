"""Event source mappings: triggers that read a queue or a stream and invoke a function in
batches.

`MappingService` answers the Lambda API (api/mappings.py); `PollerSupervisor` settles the
mappings' states and runs one `Poller` per enabled mapping (`SqsPoller` for lambdalite's
own queues; `streams.poller.RedisStreamPoller` for Redis streams, whose API rules come in
as `SourceRules`). Design: docs/decisions/0403-event-source-mappings.md, 0504.
"""
