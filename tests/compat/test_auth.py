"""SigV4 at the door, and accounts that cannot see each other."""

from __future__ import annotations

import json
import stat
import urllib.request
from typing import Any
from urllib.error import HTTPError

import pytest
from botocore.exceptions import ClientError

from tests.compat.test_functions import error_of
from tests.conftest import create
from tests.support.servers import ROOT_KEY


def test_unsigned_request_is_missing_a_token(server: Any) -> None:
    with pytest.raises(HTTPError) as excinfo:
        urllib.request.urlopen(f"{server.endpoint}/2015-03-31/functions/")
    assert excinfo.value.code == 403
    assert excinfo.value.headers["x-amzn-ErrorType"] == "MissingAuthenticationTokenException"
    assert excinfo.value.headers["Content-Type"] == "application/json"


def test_unknown_key_is_unrecognized(server: Any) -> None:
    client = server.client(key="AKIANOSUCHKEY0000000", secret="x" * 40)
    with pytest.raises(ClientError) as excinfo:
        client.list_functions()
    assert error_of(excinfo)[::2] == ("UnrecognizedClientException", 403)


def test_wrong_secret_is_an_invalid_signature_and_changes_nothing(
    server: Any, lam: Any, name: str
) -> None:
    client = server.client(secret="wrong-secret-wrong-secret-wrong-secret-00")
    with pytest.raises(ClientError) as excinfo:
        create(client, name)
    assert error_of(excinfo)[::2] == ("InvalidSignatureException", 403)
    with pytest.raises(ClientError) as missing:
        lam.get_function(FunctionName=name)
    assert error_of(missing)[0] == "ResourceNotFoundException"


def test_another_accounts_function_is_not_found(server: Any, lam: Any, name: str) -> None:
    other_account, other_key = server.platform.accounts.create(f"acct-{name}")
    other = server.client(key=other_key.access_key_id, secret=other_key.secret_access_key)
    arn = create(lam, name)["FunctionArn"]
    assert other.list_functions()["Functions"] == []
    for form in (name, arn):
        with pytest.raises(ClientError) as excinfo:
            other.get_function(FunctionName=form)
        assert error_of(excinfo)[0] == "ResourceNotFoundException"
    with pytest.raises(ClientError) as excinfo:
        other.delete_function(FunctionName=arn)
    assert error_of(excinfo)[0] == "ResourceNotFoundException"
    with pytest.raises(ClientError) as excinfo:
        other.tag_resource(Resource=arn, Tags={"stolen": "yes"})
    assert error_of(excinfo)[0] == "ResourceNotFoundException"
    # The same name in the other account is its own function.
    mine = create(other, name)
    assert mine["FunctionArn"] == arn.replace(
        server.platform.root.account.account_id, other_account.account_id
    )
    assert lam.list_tags(Resource=arn)["Tags"] == {}


def test_root_credentials_file_is_written_private(fresh_server: Any) -> None:
    path = fresh_server.data_dir / "credentials"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    text = path.read_text()
    assert "[lambdalite]" in text and f"aws_access_key_id = {ROOT_KEY}" in text


def test_generated_root_key_works_from_the_credentials_file(tmp_path: Any) -> None:
    import configparser

    from tests.support.servers import start_server

    running = start_server(tmp_path / "d", root_access_key_id=None, root_secret_access_key=None)
    try:
        parser = configparser.ConfigParser()
        parser.read(tmp_path / "d" / "credentials")
        section = parser["lambdalite"]
        assert section["aws_access_key_id"] != ROOT_KEY
        client = running.client(
            key=section["aws_access_key_id"], secret=section["aws_secret_access_key"]
        )
        assert client.list_functions()["Functions"] == []
        assert len(running.platform.root.account.account_id) == 12
    finally:
        running.stop()


def test_presigned_url_is_accepted(lam: Any, name: str) -> None:
    create(lam, name)
    url = lam.generate_presigned_url(
        "get_function_configuration", Params={"FunctionName": name}, ExpiresIn=60
    )
    with urllib.request.urlopen(url) as response:
        assert response.status == 200
        assert json.loads(response.read())["FunctionName"] == name
    tampered = url.replace(name, name + "x")
    with pytest.raises(HTTPError) as excinfo:
        urllib.request.urlopen(tampered)
    assert excinfo.value.code == 403
