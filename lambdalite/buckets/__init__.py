"""Buckets: directories whose new, changed and removed files trigger functions with AWS's
S3 event notification, and S3-compatible stores' notifications received by a webhook.

`Buckets` is the entry point; the watcher, the objects API's writes, the webhook's
parsing and the notification configurations live in the modules beside it. Every
notification reaches its function through the durable async invocation path. Design:
docs/decisions/0503-buckets.md.
"""

from lambdalite.buckets.buckets import Buckets

__all__ = ["Buckets"]
