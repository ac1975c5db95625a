"""The S3 notification webhook: S3-compatible stores' notifications, authenticated with an
account's webhook secret, routed by bucket to functions through the async path.

Bodies come from two places: a notification shaped as MinIO's documentation shows its
webhook target posting (with MinIO's own `EventName`/`Key` beside the records), and a
real S3-compatible store — moto's S3 server, which publishes S3 notifications through
SNS to an HTTP subscription, i.e. to this webhook.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import unquote_plus

import boto3
import httpx
import pytest

from tests.compat.test_buckets import api, deliver, make_bucket, quiet_server, received
from tests.conftest import create, make_zip
from tests.support.cli import cli_env, run, succeeded
from tests.support.servers import RunningServer, free_port

PRINTER = "import json\n\ndef handler(event, context):\n    print('EVENT ' + json.dumps(event))\n"
runs = pytest.mark.sandbox


def minio_body(bucket: str, key: str = "photos/my photo.jpg") -> dict[str, Any]:
    encoded = key.replace(" ", "+")
    return {
        "EventName": "s3:ObjectCreated:Put",
        "Key": f"{bucket}/{encoded}",
        "Records": [
            {
                "eventVersion": "2.0",
                "eventSource": "minio:s3",
                "awsRegion": "",
                "eventTime": "2025-03-01T12:34:56.789Z",
                "eventName": "s3:ObjectCreated:Put",
                "userIdentity": {"principalId": "minio"},
                "requestParameters": {
                    "principalId": "minio",
                    "region": "",
                    "sourceIPAddress": "192.0.2.10",
                },
                "responseElements": {
                    "x-amz-request-id": "15C3249451E12784",
                    "x-minio-deployment-id": "0c1b2c64-4b6a-4d2f-9d8f-1a2b3c4d5e6f",
                    "x-minio-origin-endpoint": "http://192.0.2.20:9000",
                },
                "s3": {
                    "s3SchemaVersion": "1.0",
                    "configurationId": "Config",
                    "bucket": {
                        "name": bucket,
                        "ownerIdentity": {"principalId": "minio"},
                        "arn": f"arn:aws:s3:::{bucket}",
                    },
                    "object": {
                        "key": encoded,
                        "size": 248682,
                        "eTag": "f1671feacb8bbf7b0397c6e9364e8c92",
                        "contentType": "image/jpeg",
                        "userMetadata": {"content-type": "image/jpeg"},
                        "sequencer": "15C32494527B46C5",
                    },
                },
                "source": {"host": "192.0.2.10", "port": "", "userAgent": "MinIO (linux; amd64)"},
            }
        ],
    }


@pytest.fixture(scope="module")
def wserver(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    running = quiet_server(tmp_path_factory.mktemp("webhook"))
    yield running
    running.stop()


@pytest.fixture(scope="module")
def secret(wserver: RunningServer) -> str:
    response = api(wserver, "POST", "/_lambdalite/webhook-secrets", {"Description": "minio"})
    assert response.status_code == 201
    value: str = response.json()["Secret"]
    return value


@pytest.fixture
def external(wserver: RunningServer) -> str:
    name = f"ext-{uuid.uuid4().hex[:12]}"
    make_bucket(wserver, name, External=True)
    return name


def post(server: RunningServer, body: Any, headers: dict[str, str] | None = None) -> httpx.Response:
    content = body if isinstance(body, bytes) else json.dumps(body).encode()
    return httpx.post(
        f"{server.endpoint}/_lambdalite/webhooks/s3", content=content, headers=headers or {}
    )


def queued(server: RunningServer) -> int:
    events = server.platform.async_invocations
    assert events is not None
    return events.events.count()


def subscribe(server: RunningServer, bucket: str, function: str) -> None:
    item = {"LambdaFunctionArn": function, "Events": ["s3:ObjectCreated:*"]}
    response = api(server, "POST", f"/_lambdalite/buckets/{bucket}/notification", item)
    assert response.status_code == 200, response.text


@runs
def test_a_minio_notification_runs_the_buckets_function(
    wserver: RunningServer, secret: str, external: str, name: str
) -> None:
    create(wserver.client(), name, Code={"ZipFile": make_zip({"app.py": PRINTER})})
    subscribe(wserver, external, name)
    before = queued(wserver)
    response = post(wserver, minio_body(external), {"Authorization": f"Bearer {secret}"})
    assert response.status_code == 200, response.text
    assert response.json() == {"Records": 1, "Accepted": 1}
    assert queued(wserver) == before + 1, "200 means stored"
    assert deliver(wserver) == 1
    (event,) = received(wserver, name)
    (record,) = event["Records"]
    # The store's record, with AWS's event name and the matching configuration's Id.
    assert record["eventName"] == "ObjectCreated:Put"
    assert record["s3"]["object"]["key"] == "photos/my+photo.jpg"
    assert record["s3"]["object"]["size"] == 248682
    assert record["s3"]["bucket"]["name"] == external
    configuration = api(wserver, "GET", f"/_lambdalite/buckets/{external}/notification").json()
    assert record["s3"]["configurationId"] == configuration["LambdaFunctionConfigurations"][0]["Id"]


def test_unauthenticated_or_malformed_notifications_accept_nothing(
    wserver: RunningServer, secret: str, external: str, name: str
) -> None:
    create(wserver.client(), name)
    subscribe(wserver, external, name)
    before = queued(wserver)
    bearer = {"Authorization": f"Bearer {secret}"}

    # MinIO's reachability check is an unauthenticated HEAD: it learns nothing else.
    assert httpx.head(f"{wserver.endpoint}/_lambdalite/webhooks/s3").status_code == 200
    unsigned = post(wserver, minio_body(external))
    assert unsigned.status_code == 401
    assert "Bearer" in unsigned.headers["www-authenticate"]
    assert "lambdalite webhooks create" in unsigned.json()["message"]
    wrong = post(wserver, minio_body(external), {"Authorization": "Bearer llwh_not-a-secret"})
    assert wrong.status_code == 403
    assert wrong.headers["x-amzn-ErrorType"] == "AccessDeniedException"

    not_json = post(wserver, b"{not json", bearer)
    assert not_json.status_code == 400
    assert "not JSON" in not_json.json()["message"]
    no_records = post(wserver, {"hello": "world"}, bearer)
    assert no_records.status_code == 400
    keyless = minio_body(external)
    del keyless["Records"][0]["s3"]["object"]["key"]
    missing_key = post(wserver, keyless, bearer)
    assert missing_key.status_code == 400
    assert "Records[0].s3.object.key" in missing_key.json()["message"]

    unknown = post(wserver, minio_body("no-such-bucket"), bearer)
    assert unknown.status_code == 404
    assert "no-such-bucket" in unknown.json()["message"]
    # One unknown bucket among several records: the whole body is refused.
    mixed = minio_body(external)
    mixed["Records"] += minio_body("no-such-bucket")["Records"]
    assert post(wserver, mixed, bearer).status_code == 404

    assert queued(wserver) == before, "no refused notification left anything behind"


def test_a_directory_bucket_is_not_fed_by_the_webhook(
    wserver: RunningServer, secret: str, name: str
) -> None:
    local = f"dir-{uuid.uuid4().hex[:12]}"
    make_bucket(wserver, local)
    answer = post(wserver, minio_body(local), {"Authorization": f"Bearer {secret}"})
    assert answer.status_code == 409
    assert "--external" in answer.json()["message"]


def test_sns_envelopes_basic_auth_and_test_events(
    wserver: RunningServer, secret: str, external: str, name: str
) -> None:
    create(wserver.client(), name)
    subscribe(wserver, external, name)
    basic = httpx.BasicAuth("lambdalite", secret)
    url = f"{wserver.endpoint}/_lambdalite/webhooks/s3"
    topic = "arn:aws:sns:us-east-1:123456789012:uploads"
    before = queued(wserver)
    notification = {
        "Type": "Notification",
        "MessageId": str(uuid.uuid4()),
        "TopicArn": topic,
        "Subject": "Amazon S3 Notification",
        "Message": json.dumps({"Records": minio_body(external)["Records"]}),
        "Timestamp": "2025-03-01T12:34:57.000Z",
    }
    headers = {"x-amz-sns-message-type": "Notification"}
    answer = httpx.post(url, json=notification, auth=basic, headers=headers)
    assert answer.status_code == 200, answer.text
    assert answer.json()["Accepted"] == 1
    assert queued(wserver) == before + 1

    confirmation = {
        "Type": "SubscriptionConfirmation",
        "TopicArn": topic,
        "Token": "2336412f37",
        # Not AWS's: the server does not fetch URLs a caller names.
        "SubscribeURL": "http://192.0.2.1/confirm?Token=2336412f37",
    }
    answer = httpx.post(url, json=confirmation, auth=basic)
    assert answer.status_code == 200
    assert answer.json() == {"Confirmed": False, "SubscribeURL": confirmation["SubscribeURL"]}

    test_event = {"Service": "Amazon S3", "Event": "s3:TestEvent", "Bucket": external}
    answer = httpx.post(url, json=test_event, auth=basic)
    assert answer.json() == {"Records": 0, "Accepted": 0}
    assert queued(wserver) == before + 1
    deliver(wserver)


@runs
def test_moto_s3_notifies_through_sns_to_the_webhook(
    wserver: RunningServer, secret: str, name: str
) -> None:
    moto_server = pytest.importorskip("moto.server")
    moto = moto_server.ThreadedMotoServer(ip_address="127.0.0.1", port=free_port(), verbose=False)
    moto.start()
    try:
        endpoint = f"http://127.0.0.1:{moto._port}"
        session = boto3.Session(
            aws_access_key_id="testing", aws_secret_access_key="testing", region_name="us-east-1"
        )
        s3 = session.client("s3", endpoint_url=endpoint)
        sns = session.client("sns", endpoint_url=endpoint)
        bucket = f"moto-{uuid.uuid4().hex[:12]}"
        create(wserver.client(), name, Code={"ZipFile": make_zip({"app.py": PRINTER})})
        make_bucket(wserver, bucket, External=True)
        subscribe(wserver, bucket, name)

        s3.create_bucket(Bucket=bucket)
        topic = sns.create_topic(Name=f"uploads-{uuid.uuid4().hex[:8]}")["TopicArn"]
        webhook = wserver.endpoint.replace("://", f"://lambdalite:{secret}@", 1)
        sns.subscribe(
            TopicArn=topic, Protocol="http", Endpoint=f"{webhook}/_lambdalite/webhooks/s3"
        )
        s3.put_bucket_notification_configuration(
            Bucket=bucket,
            NotificationConfiguration={
                "TopicConfigurations": [{"TopicArn": topic, "Events": ["s3:ObjectCreated:*"]}]
            },
        )
        before = queued(wserver)
        s3.put_object(Bucket=bucket, Key="incoming/report 1.csv", Body=b"a,b\n1,2\n")
        assert queued(wserver) == before + 1, "moto posted, the webhook stored"
        assert deliver(wserver) == 1
        (event,) = received(wserver, name)
        (record,) = event["Records"]
        assert record["eventSource"] == "aws:s3"
        assert record["eventName"] == "ObjectCreated:Put"
        assert record["s3"]["bucket"]["name"] == bucket
        # The store's record as it sent it (moto also encodes '/', which S3 does not).
        assert unquote_plus(record["s3"]["object"]["key"]) == "incoming/report 1.csv"
        assert record["s3"]["object"]["size"] == 8
    finally:
        moto.stop()


def test_the_cli_creates_lists_and_revokes_secrets(wserver: RunningServer, tmp_path: Path) -> None:
    env = cli_env(wserver.endpoint, tmp_path)
    out = succeeded(run(env, "webhooks", "create", "--description", "ceph"))
    secret = next(word for word in out.split() if word.startswith("llwh_"))
    secret_id = out.split()[2]
    assert secret_id in succeeded(run(env, "webhooks", "ls"))
    assert post(wserver, {"Records": []}, {"Authorization": f"Bearer {secret}"}).status_code == 200
    succeeded(run(env, "webhooks", "rm", secret_id))
    assert post(wserver, {"Records": []}, {"Authorization": f"Bearer {secret}"}).status_code == 403
