"""thumbnail: makes a smaller copy of every image uploaded to a bucket, in another bucket.

Triggered by the source bucket's notification (S3's event); reads the image and writes the
thumbnail through lambdalite's objects API. Configuration, by environment variable:

    LAMBDALITE_ENDPOINT        the server as the sandbox reaches it (an allowed address)
    LAMBDALITE_KEY_ID, LAMBDALITE_SECRET_KEY
                               the account's key (lambdalite has no execution roles yet)
    THUMBNAIL_BUCKET           where thumbnails go: never the bucket that triggers this
    THUMBNAIL_SIZE             the longest side, in pixels (default 128)
"""

import io
import os
from urllib.parse import unquote_plus

from objects import Objects
from PIL import Image

SIZE = int(os.environ.get("THUMBNAIL_SIZE", "128"))
TARGET = os.environ["THUMBNAIL_BUCKET"]
objects = Objects(
    os.environ["LAMBDALITE_ENDPOINT"],
    os.environ["LAMBDALITE_KEY_ID"],
    os.environ["LAMBDALITE_SECRET_KEY"],
    os.environ.get("AWS_REGION", "us-east-1"),
)


def handler(event, context):
    made = []
    for record in event["Records"]:
        bucket = record["s3"]["bucket"]["name"]
        key = unquote_plus(
            record["s3"]["object"]["key"]
        )  # S3 sends "red flower.jpg" as "red+flower.jpg"
        if bucket == TARGET:
            raise ValueError("THUMBNAIL_BUCKET must not be the bucket that triggers this function")
        image = Image.open(io.BytesIO(objects.get(bucket, key)))
        kind = image.format or "JPEG"
        image.thumbnail((SIZE, SIZE))
        if kind == "JPEG" and image.mode not in ("RGB", "L"):
            image = image.convert("RGB")
        out = io.BytesIO()
        image.save(out, kind)
        objects.put(TARGET, key, out.getvalue())
        print(f"thumbnail {bucket}/{key} -> {TARGET}/{key} {image.size[0]}x{image.size[1]}")
        made.append({"key": key, "width": image.size[0], "height": image.size[1]})
    return {"thumbnails": made}
