"""Prometheus metrics of one server: `GET /metrics` (decision 0604-metrics.md).

Invocation counters and histograms are fed by usage records as the log writer settles
them (never on the invoke path); gauges of sandboxes, concurrency and the async queue are
read when scraped. Each server has its own CollectorRegistry, never the global one.
"""
