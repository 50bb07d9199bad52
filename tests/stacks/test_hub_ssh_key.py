"""Bringing your own SSH public key: then no private key is generated, kept in state or exported."""

from __future__ import annotations

import json
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa

from preview.engine import StackRun, is_secret, run_stack
from stacks.config import ConfigError, validate
from stacks.hub import HubConfig
from tests.conftest import config_of, shared_outputs

SECRETS = {"armClientSecret", "dnsSolverClientSecret", "backupVerificationKey"}


def openssh(key: Any) -> str:
    line: bytes = key.public_key().public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)
    return line.decode()


RSA_KEY = openssh(rsa.generate_private_key(public_exponent=65537, key_size=3072)) + " ops@contoso"


def run_denver(**changes: Any) -> StackRun:
    values = {f"stackhub-ha:{k}": v for k, v in config_of("hub-denver", **changes).items()}
    secrets = {f"stackhub-ha:{k}" for k in SECRETS}
    return run_stack("hub-denver", config=values, secret_keys=secrets, stack_outputs={"shared": shared_outputs()})


def desired_key(run: StackRun) -> str:
    (command,) = run.by_type("command:local:Command")
    return str(json.loads(command.plain_inputs["environment"]["AKSENGINE_DESIRED"])["settings"]["ssh_public_key"])


def test_a_brought_public_key_goes_to_aks_engine_and_no_private_key_exists() -> None:
    run = run_denver(sshPublicKey=RSA_KEY)
    assert run.by_type("tls:index/privateKey:PrivateKey") == []
    assert "sshPrivateKey" not in run.outputs
    assert desired_key(run) == RSA_KEY


def test_without_one_a_protected_key_is_generated_and_its_private_half_exported_as_a_secret() -> None:
    run = run_denver()
    (key,) = run.by_type("tls:index/privateKey:PrivateKey")
    assert key.protect
    assert is_secret(run.outputs["sshPrivateKey"])
    assert desired_key(run).startswith("ssh-rsa ")


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("not a key", "must be an OpenSSH public key line"),
        (openssh(ed25519.Ed25519PrivateKey.generate()), "must be an RSA key of 2048 bits or more"),
        (openssh(rsa.generate_private_key(public_exponent=65537, key_size=1024)), "2048 bits or more"),  # noqa: S505
    ],
    ids=["garbage", "ed25519", "rsa-1024"],
)
def test_a_key_aks_engine_cannot_use_is_refused_with_the_key_named(value: str, expected: str) -> None:
    with pytest.raises(ConfigError) as caught:
        validate(HubConfig, "hub-denver", config_of("hub-denver", sshPublicKey=value), SECRETS)
    (problem,) = [str(p) for p in caught.value.problems]
    assert problem.startswith("stackhub-ha:sshPublicKey = ")
    assert expected in problem
