"""The hub stack's backup settings: schedules, deadlines, time zones, images, recipients, the SAS, tool configs."""

from __future__ import annotations

import subprocess
from datetime import UTC, datetime
from pathlib import Path

import pytest
import yaml

from tests.backup.azurite import service_sas
from tests.backup.conftest import OPENSSL, Keys, openssl
from workloads.backup.settings import (
    DEFAULT_SCHEDULE,
    DEFAULT_VERIFY_SCHEDULE,
    check_block_mib,
    check_cron,
    check_egress_cidrs,
    check_hub_sas,
    check_pinned_image,
    check_recipient,
    check_time_zone,
    dump_read_preference,
    job_deadlines,
    mongo_tool_config,
    shortest_interval_seconds,
    storage_secret_value,
)

URL = "https://stackhubbackups.blob.core.windows.net/hub-backups"
NOW = datetime(2026, 6, 1, tzinfo=UTC)


@pytest.mark.parametrize(
    ("schedule", "interval"),
    [
        (DEFAULT_SCHEDULE, 86400),
        (DEFAULT_VERIFY_SCHEDULE, 7 * 86400),
        ("@hourly", 3600),
        ("0 */6 * * *", 6 * 3600),
        ("30 1 * * mon-fri", 86400),
        ("0 3 1,15 * *", 14 * 86400),
        ("0 0 1 1 *", 366 * 86400),
        ("0 0 29 2 *", None),
    ],
)
def test_shortest_intervals(schedule: str, interval: int | None) -> None:
    assert shortest_interval_seconds(schedule) == interval


def test_deadlines_end_a_run_before_the_next_one() -> None:
    assert job_deadlines(DEFAULT_SCHEDULE) == (3600, 4 * 3600)
    assert job_deadlines("0 */2 * * *") == (1800, 5400)
    with pytest.raises(ValueError, match="more than once an hour"):
        job_deadlines("*/30 * * * *")


@pytest.mark.parametrize(
    ("schedule", "message"),
    [("15 2 * *", "five fields"), ("61 2 * * *", "minute '61'"), ("0 2 * * funday", "not a number"),
     ("0 5-2 * * *", "not increasing")],
)  # fmt: skip
def test_bad_schedules_are_named(schedule: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        check_cron(schedule)


def test_day_fields_or_when_both_are_restricted() -> None:
    cron = check_cron("0 0 13 * fri")
    assert cron.fires_on(datetime(2026, 2, 13))  # a Friday the 13th
    assert cron.fires_on(datetime(2026, 2, 6))  # any Friday
    assert cron.fires_on(datetime(2026, 3, 13))  # any 13th
    assert not cron.fires_on(datetime(2026, 3, 12))
    assert check_cron("0 0 * * 7").weekdays == frozenset({0})


def test_time_zones_images_blocks_and_egress() -> None:
    assert check_time_zone("America/Denver") == "America/Denver"
    with pytest.raises(ValueError, match="IANA"):
        check_time_zone("Mountain Time")
    assert check_pinned_image("python:3.13-slim") == "python:3.13-slim"
    assert check_pinned_image("mirror.local:5000/library/mongo@sha256:" + "a" * 64)
    for image in ("python", "python:latest", "mirror.local:5000/python"):
        with pytest.raises(ValueError, match="latest"):
            check_pinned_image(image)
    assert check_block_mib(4000) == 4000
    with pytest.raises(ValueError, match="1 to 4000"):
        check_block_mib(4001)
    assert check_egress_cidrs(["20.60.0.0/16"]) == ["20.60.0.0/16"]
    for bad in (["0.0.0.0/0"], ["10.0.0.1/8"], []):
        with pytest.raises(ValueError, match="backup egress"):
            check_egress_cidrs(bad)


def test_the_hubs_sas_is_checked() -> None:
    good = service_sas("hub-backups", "rcwl", protocol="https", expiry="2027-01-01T00:00:00Z")
    assert check_hub_sas(URL, good, NOW) == datetime(2027, 1, 1, tzinfo=UTC)
    bad = service_sas("hub-backups", "rcwdl", version="2019-07-07", expiry="2026-01-01T00:00:00Z")
    with pytest.raises(ValueError, match="backup SAS") as refused:
        check_hub_sas(URL, bad, NOW)
    message = str(refused.value)
    for part in ("sv=2019-07-07", "allow deletion", "not HTTPS-only", "expired at 2026-01-01T00:00:00Z"):
        assert part in message
    assert storage_secret_value(URL + "/", "?" + good) == f"{URL}?{good}\n"


def test_tool_config_keeps_the_password_out_of_the_uri() -> None:
    text = mongo_tool_config("backup", 'p@ss:"w/rd', ["m-0.m.ns.svc.cluster.local:27017"], "rs0")
    parsed = yaml.safe_load(text)
    assert parsed == {"uri": "mongodb://backup@m-0.m.ns.svc.cluster.local:27017/?replicaSet=rs0&authSource=admin",
                      "password": 'p@ss:"w/rd'}  # fmt: skip
    assert dump_read_preference(3) == "secondary"
    assert dump_read_preference(1) == "primary"


def test_recipient_certificates(keys: Keys, tmp_path: Path) -> None:
    recovery = check_recipient("recovery.pem", (keys.recipients_dir / "recovery.pem").read_text())
    assert recovery.recipient.rsa
    certificate = str(keys.recipients_dir / "recovery.pem")
    fingerprint = subprocess.run([OPENSSL, "x509", "-in", certificate, "-noout", "-fingerprint", "-sha256"],
                                 check=True, capture_output=True, text=True).stdout  # fmt: skip
    assert recovery.sha256 == fingerprint.split("=", 1)[1].strip().replace(":", "").lower()
    assert not check_recipient("verification.pem", (keys.recipients_dir / "verification.pem").read_text()).recipient.rsa
    with pytest.raises(ValueError, match="private key"):
        check_recipient("recovery.pem", keys.recovery_key.read_text())
    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(tmp_path / "k"), "-out",
            str(tmp_path / "small.pem"), "-subj", "/CN=small", "-days", "1")  # fmt: skip
    with pytest.raises(ValueError, match="RSA key of 2048 bits"):
        check_recipient("small.pem", (tmp_path / "small.pem").read_text())
    openssl("req", "-x509", "-newkey", "ed25519", "-nodes", "-keyout", str(tmp_path / "e"), "-out",
            str(tmp_path / "ed.pem"), "-subj", "/CN=ed", "-days", "1")  # fmt: skip
    with pytest.raises(ValueError, match="Ed25519PublicKey keys cannot receive"):
        check_recipient("ed.pem", (tmp_path / "ed.pem").read_text())
    with pytest.raises(ValueError, match="not a PEM certificate"):
        check_recipient("x.pem", "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n")
    with pytest.raises(ValueError, match="name"):
        check_recipient("Recovery Key.pem", (keys.recipients_dir / "recovery.pem").read_text())
