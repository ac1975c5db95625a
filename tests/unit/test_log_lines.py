"""START / END / REPORT lines in AWS's exact format, and the 4 KB tail."""

from __future__ import annotations

import base64

from lambdalite.logs.lines import end_line, report_line, start_line, tail

RID = "c2a1b9d0-0000-4000-8000-000000000001"


def test_start_and_end() -> None:
    assert start_line(RID, "$LATEST") == f"START RequestId: {RID} Version: $LATEST\n"
    assert end_line(RID) == f"END RequestId: {RID}\n"


def test_warm_report_has_tabs_and_a_trailing_tab() -> None:
    assert report_line(RID, 2.9, 128, 36, None) == (
        f"REPORT RequestId: {RID}\tDuration: 2.90 ms\tBilled Duration: 3 ms\t"
        "Memory Size: 128 MB\tMax Memory Used: 36 MB\t\n"
    )


def test_cold_report_bills_init_too() -> None:
    line = report_line(RID, 395.99, 1024, 80, 265.72)
    assert "\tBilled Duration: 662 ms\t" in line
    assert line.endswith("\tInit Duration: 265.72 ms\t\n")


def test_failed_report_names_status_and_error_type() -> None:
    line = report_line(RID, 3000.4, 128, 40, None, "timeout", "Sandbox.Timedout")
    assert line.endswith("\tStatus: timeout\tError Type: Sandbox.Timedout\t\n")


def test_tail_is_the_last_4_kb_base64() -> None:
    log = b"a" * 5000 + b"THE END\n"
    decoded = base64.b64decode(tail(log))
    assert len(decoded) == 4096 and decoded.endswith(b"THE END\n")
    assert base64.b64decode(tail(b"short")) == b"short"
