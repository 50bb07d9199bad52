"""Checks for the hub stack's backup settings, and the values derived from them (pure; run at `pulumi up`).

Each `check_*` returns the value (normalized) or raises ValueError with the reason, ready for a pydantic field
validator like the other stack settings.
"""

from __future__ import annotations

import calendar
import ipaddress
import itertools
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qsl, quote, urlsplit

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from planning.names import image_reference_problem
from planning.reboot import time_zone_problem
from workloads.backup.pod.profiles import AZURE_STACK_HUB, DEFAULT_PROFILE, MIB, storage_profile
from workloads.backup.scripts import Recipient

DEFAULT_SCHEDULE = "15 2 * * *"
"""Daily at 02:15 in the CronJob's time zone."""
DEFAULT_VERIFY_SCHEDULE = "45 4 * * 0"
"""Weekly, Sunday 04:45: after that night's backup."""
DEFAULT_TIME_ZONE = "Etc/UTC"
DEFAULT_BLOCK_MIB = 8
HUB_SAS_PERMISSIONS = "rcwl"
"""What the hubs' SAS must allow (read for restore and verification); `d` must be absent."""
_MACROS = {
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
    "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
}
_NAMES = {
    **{name.lower(): i for i, name in enumerate(calendar.month_abbr) if name},
    **{name.lower(): (i + 1) % 7 for i, name in enumerate(calendar.day_abbr)},
}
_FIELDS = (("minute", 0, 59), ("hour", 0, 23), ("day of month", 1, 31), ("month", 1, 12), ("day of week", 0, 7))


# -- schedules ---------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Cron:
    """A parsed five-field schedule (the syntax Kubernetes CronJobs accept, with names and @macros)."""

    minutes: frozenset[int]
    hours: frozenset[int]
    days: frozenset[int]
    months: frozenset[int]
    weekdays: frozenset[int]
    days_restricted: bool
    weekdays_restricted: bool

    def fires_on(self, day: datetime) -> bool:
        """Whether the schedule fires on this calendar day (cron's OR when both day fields are restricted)."""
        if day.month not in self.months:
            return False
        in_days = day.day in self.days
        in_weekdays = (day.isoweekday() % 7) in self.weekdays
        if self.days_restricted and self.weekdays_restricted:
            return in_days or in_weekdays
        return in_days and in_weekdays


def check_cron(expression: str) -> Cron:
    """Parse a schedule; raises ValueError saying which field is wrong."""
    text = _MACROS.get(expression.strip().lower(), expression.strip())
    fields = text.split()
    if len(fields) != 5:
        raise ValueError(f"schedule {expression!r}: five fields (minute hour day-of-month month day-of-week)")
    sets = [_cron_field(value, *spec) for value, spec in zip(fields, _FIELDS, strict=True)]
    weekdays = frozenset(d % 7 for d in sets[4])
    return Cron(sets[0], sets[1], sets[2], sets[3], weekdays, fields[2] != "*", fields[4] != "*")


def _cron_field(value: str, name: str, low: int, high: int) -> frozenset[int]:
    chosen: set[int] = set()
    for part in value.split(","):
        base, _, step_text = part.partition("/")
        step = _cron_number(step_text, name) if step_text else 1
        if base == "*":
            first, last = low, high
        elif "-" in base:
            first_text, _, last_text = base.partition("-")
            first, last = _cron_number(first_text, name), _cron_number(last_text, name)
        else:
            first = _cron_number(base, name)
            last = high if step_text else first
        if not (low <= first <= last <= high) or step < 1:
            raise ValueError(f"schedule {name} {part!r}: outside {low}-{high} or not increasing")
        chosen.update(range(first, last + 1, step))
    return frozenset(chosen)


def _cron_number(text: str, name: str) -> int:
    if text.lower() in _NAMES and name in ("month", "day of week"):
        return _NAMES[text.lower()]
    if not text.isdigit():
        raise ValueError(f"schedule {name} {text!r}: not a number")
    return int(text)


def fire_times(cron: Cron, start: datetime, days: int) -> list[datetime]:
    """Every firing in `days` days from `start` (naive wall-clock times)."""
    times = []
    for offset in range(days):
        day = start + timedelta(days=offset)
        if cron.fires_on(day):
            times += [day.replace(hour=h, minute=m) for h in sorted(cron.hours) for m in sorted(cron.minutes)]
    return times


def shortest_interval_seconds(expression: str) -> int | None:
    """The shortest gap between two firings over a leap year (None when it fires at most once in it)."""
    times = fire_times(check_cron(expression), datetime(2024, 1, 1), 366 + 7)
    gaps = [int((later - earlier).total_seconds()) for earlier, later in itertools.pairwise(times)]
    return min(gaps) if gaps else None


def job_deadlines(expression: str, longest_run_seconds: int = 4 * 3600) -> tuple[int, int]:
    """(startingDeadlineSeconds, activeDeadlineSeconds) for a CronJob on this schedule.

    The active deadline ends a run before the next one is due (three quarters of the shortest interval, at most
    `longest_run_seconds`), so `concurrencyPolicy: Forbid` never skips a run because a stuck one still holds it.
    A run that could not start within a quarter of the interval (at most an hour) is skipped, not run late.
    """
    interval = shortest_interval_seconds(expression) or 366 * 86400
    if interval < 3600:
        raise ValueError(f"schedule {expression!r} fires more than once an hour: too often for full backups")
    return min(interval // 4, 3600), min(interval * 3 // 4, longest_run_seconds)


def check_time_zone(name: str) -> str:
    """An IANA time zone name (the CronJob's `timeZone`)."""
    if time_zone_problem(name) is not None:
        raise ValueError(f"time zone {name!r}: not an IANA name such as Europe/Berlin or Etc/UTC")
    return name


# -- images, sizes, storage -------------------------------------------------------------------------------------


def check_pinned_image(reference: str) -> str:
    """An image reference with a tag other than `latest`, or a digest (planning/names.py: the one image rule)."""
    if (why := image_reference_problem(reference)) is not None:
        raise ValueError(f"image {reference!r}: {why}")
    return reference


def check_storage_profile(name: str) -> str:
    """The kind of storage the backups go to (`workloads.backup.pod.profiles`): `azure` or `azurestack`."""
    return storage_profile(name).name


def check_block_mib(value: int, profile: str = DEFAULT_PROFILE) -> int:
    """Block size in MiB: 1 to the profile's largest block (4000 on Azure, 100 on a hub); the uploader holds each
    block in memory."""
    largest = storage_profile(profile).max_block_bytes // MIB
    if not 1 <= value <= largest:
        raise ValueError(f"backup block size {value} MiB: 1 to {largest} (storage profile {profile})")
    return value


_AZURE_STORAGE_SUFFIXES = (".core.windows.net", ".core.usgovcloudapi.net", ".core.chinacloudapi.cn")
"""Blob endpoints of Azure's clouds: a hub's own storage is never under them."""


def check_container_url(url: str, profile: str = DEFAULT_PROFILE) -> str:
    """A backup container URL: `https://<blob endpoint>/<container>`, with no query (the SAS is kept apart).

    The profile is never guessed from the URL, but a URL that cannot belong to it is refused: an Azure Stack Hub's
    storage is not under Azure's endpoint suffixes.
    """
    parts = urlsplit(url.strip())
    shown = "https://<account>.blob.<region>.<domain>/<container>"
    if parts.scheme != "https" or not parts.hostname:
        raise ValueError(f"backup container URL {url!r}: must be {shown} (https)")
    if parts.query or parts.fragment:
        raise ValueError("backup container URL: must not carry a query or a SAS (the SAS is a secret of its own)")
    container = parts.path.strip("/")
    if not re.fullmatch(r"[a-z0-9](?!.*--)[a-z0-9-]{1,61}[a-z0-9]", container):
        raise ValueError(
            f"backup container URL {url!r}: the path must be one container name (3 to 63 lowercase letters, digits "
            "and single dashes)"
        )
    if storage_profile(profile) is AZURE_STACK_HUB and parts.hostname.endswith(_AZURE_STORAGE_SUFFIXES):
        raise ValueError(
            f"backup container URL {url!r} is an Azure storage account, not a hub's: its storage profile is 'azure'"
        )
    return f"https://{parts.netloc}/{container}"


def check_hub_sas(
    container_url: str, sas_token: str, now: datetime | None = None, *, profile: str = DEFAULT_PROFILE
) -> datetime:
    """The hubs' SAS: version (what the profile's storage accepts), permissions (rcwl, no delete), HTTPS only, not
    expired. Returns its expiry."""
    fields = dict(parse_qsl(sas_token.lstrip("?"), keep_blank_values=True))
    problems = []
    version_problem = storage_profile(profile).sas_version_problem(fields.get("sv", ""))
    if version_problem is not None:
        problems.append(version_problem)
    permissions = fields.get("sp", "")
    if missing := sorted(set(HUB_SAS_PERMISSIONS) - set(permissions)):
        problems.append(f"permissions sp={permissions} lack {''.join(missing)}")
    if "d" in permissions or "x" in permissions:
        problems.append(f"permissions sp={permissions} allow deletion: the hubs must not be able to delete backups")
    if fields.get("spr") != "https":
        problems.append("not HTTPS-only (spr=https)")
    if urlsplit(container_url).scheme != "https":
        problems.append("the container URL is not https")
    try:
        expiry = datetime.fromisoformat(fields.get("se", "").replace("Z", "+00:00"))
    except ValueError:
        problems.append("no expiry (se)")
        expiry = datetime.max.replace(tzinfo=UTC)
    if expiry.tzinfo is None:
        expiry = expiry.replace(tzinfo=UTC)
    if expiry <= (now or datetime.now(UTC)):
        problems.append(f"expired at {fields.get('se')}")
    if problems:
        raise ValueError("backup SAS: " + "; ".join(problems))
    return expiry


def storage_secret_value(container_url: str, sas_token: str) -> str:
    """What the pods read from the storage Secret: `<container URL>?<SAS>`."""
    return f"{container_url.rstrip('/')}?{sas_token.lstrip('?')}\n"


def check_egress_cidrs(cidrs: Sequence[str]) -> list[str]:
    """The storage endpoint's (or the egress proxy's) IPv4 ranges for the NetworkPolicy; never 0.0.0.0/0."""
    checked = []
    for cidr in cidrs:
        try:
            network = ipaddress.IPv4Network(cidr, strict=True)
        except ValueError as error:
            raise ValueError(f"backup egress {cidr!r}: not an IPv4 CIDR with no host bits ({error})") from None
        if network.prefixlen == 0:
            raise ValueError("backup egress 0.0.0.0/0 would let the job reach everything")
        checked.append(str(network))
    if not checked:
        raise ValueError("backup egress: at least one address range (the storage endpoint or the egress proxy)")
    return checked


# -- database --------------------------------------------------------------------------------------------------


def dump_read_preference(members: int) -> str:
    """`secondary` (spare the primary) whenever the set has a secondary; a one-member set has only its primary."""
    return "secondary" if members > 1 else "primary"


def mongo_tool_config(username: str, password: str, hosts: Sequence[str], replica_set: str) -> str:
    """The `--config` file of mongodump/mongorestore (tools 100.3+): the URI with the user, the password apart.

    YAML; the values are written as JSON strings (YAML accepts them), so no character in them can break it.
    """
    uri = f"mongodb://{quote(username, safe='')}@{','.join(hosts)}/?replicaSet={replica_set}&authSource=admin"
    return f"uri: {json.dumps(uri)}\npassword: {json.dumps(password)}\n"


# -- recipients ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RecipientCertificate:
    """A checked recipient certificate."""

    recipient: Recipient
    sha256: str
    """Fingerprint of the certificate (DER), as the manifest lists it."""
    pem: str
    not_after: datetime


def check_recipient(file: str, pem: str) -> RecipientCertificate:
    """A public certificate for `openssl cms -encrypt`: RSA of 3072 bits or more, or EC P-256/P-384/P-521.

    A private key here is refused outright: the hubs get the certificate only, never the key that opens backups.
    `openssl cms -encrypt` does not check a recipient's validity dates, so an expired certificate still works;
    it is accepted, and its end date reported.
    """
    if "PRIVATE KEY" in pem:
        raise ValueError(f"backup recipient {file}: this is a private key; give the certificate only")
    if not re.fullmatch(r"[a-z0-9][a-z0-9-]*\.pem", file):
        raise ValueError(f"backup recipient name {file!r}: lowercase letters, digits and dashes, ending .pem")
    try:
        certificate = x509.load_pem_x509_certificate(pem.encode())
    except ValueError as error:
        raise ValueError(f"backup recipient {file}: not a PEM certificate ({error})") from None
    key = certificate.public_key()
    if isinstance(key, rsa.RSAPublicKey):
        if key.key_size < 3072:
            raise ValueError(f"backup recipient {file}: RSA key of {key.key_size} bits; 3072 or more")
        rsa_key = True
    elif isinstance(key, ec.EllipticCurvePublicKey):
        if key.curve.name not in ("secp256r1", "secp384r1", "secp521r1"):
            raise ValueError(f"backup recipient {file}: curve {key.curve.name}; P-256, P-384 or P-521")
        rsa_key = False
    else:
        kind = type(key).__name__
        raise ValueError(f"backup recipient {file}: {kind} keys cannot receive CMS enveloped data")  # noqa: TRY004
    return RecipientCertificate(
        Recipient(file, rsa_key),
        certificate.fingerprint(hashes.SHA256()).hex(),
        pem.strip() + "\n",
        certificate.not_valid_after_utc,
    )
