"""aggregate: counts a Redis stream's events by type, into a Redis hash.

Run by a lambdalite stream mapping (AWS's Kinesis event). Each record's data is a JSON
event such as {"type": "click"}; the counts go to the hash COUNTS_KEY (default
"counts") on REDIS_URL, reached through the operator's network allow-list.

A stream mapping delivers at least once (a batch whose function failed, or whose server
died, comes again), so the counts are made idempotent: the last sequence number counted
is kept beside them, and records at or before it are skipped, in the same transaction
that adds the counts. Sequence numbers of lambdalite's Redis streams are Redis entry ids
("<ms>-<n>"), compared as pairs.
"""

import base64
import json
import os

import redis

COUNTS = os.environ.get("COUNTS_KEY", "counts")
CHECKPOINT = f"{COUNTS}:checkpoint"
client = redis.Redis.from_url(os.environ["REDIS_URL"], socket_timeout=5)


def order(sequence):
    ms, _, n = sequence.partition("-")
    return int(ms), int(n or 0)


def kind_of(record):
    try:
        event = json.loads(base64.b64decode(record["kinesis"]["data"]))
    except ValueError:
        return "invalid"
    return str(event.get("type", "unknown")) if isinstance(event, dict) else "invalid"


def handler(event, context):
    records = event["Records"]
    with client.pipeline() as pipe:
        while True:
            try:
                pipe.watch(CHECKPOINT)
                last = pipe.get(CHECKPOINT)
                after = order(last.decode()) if last else (-1, -1)
                fresh = [r for r in records if order(r["kinesis"]["sequenceNumber"]) > after]
                counts = {}
                for record in fresh:
                    kind = kind_of(record)
                    counts[kind] = counts.get(kind, 0) + 1
                pipe.multi()
                for kind, n in counts.items():
                    pipe.hincrby(COUNTS, kind, n)
                if fresh:
                    pipe.set(CHECKPOINT, fresh[-1]["kinesis"]["sequenceNumber"])
                pipe.execute()
                break
            except redis.WatchError:  # another writer moved the checkpoint: read again
                continue
    print("COUNTS " + json.dumps(counts, sort_keys=True))
    return {"counted": len(fresh), "skipped": len(records) - len(fresh)}
