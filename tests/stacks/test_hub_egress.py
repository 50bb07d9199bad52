"""The `egressProxy` key of a hub stack: its rules, the computed no-proxy list, and what a preview shows."""

from __future__ import annotations

from typing import Any

import pytest

from preview.engine import run_stack
from stacks.config import REDACTED, ConfigError, validate
from stacks.hub import HubConfig
from tests.conftest import config_of, shared_outputs
from tests.egress.certs import certificate_pem

SECRETS = {"armClientSecret", "dnsSolverClientSecret", "backupVerificationKey"}
PROXY = {"httpProxy": "http://10.10.8.4:3128"}
# On the hub's own domain, which the computed no-proxy list reaches directly.
NODE_IMAGE = "registry.seattle.azurestack.contoso.com/python:3.12.8-slim"


def seattle(**changes: Any) -> dict[str, Any]:
    defaults = {"egressNodeImage": NODE_IMAGE} if "egressProxy" in changes else {}
    values = {**config_of("hub-seattle"), **defaults, **changes}
    return {k: v for k, v in values.items() if v is not None}


def problems_for(values: dict[str, Any], secrets: set[str] = SECRETS) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        validate(HubConfig, "hub-test", values, secrets)
    return [str(p) for p in caught.value.problems]


def test_the_no_proxy_list_is_computed_from_the_address_plan() -> None:
    config = validate(HubConfig, "hub-seattle", seattle(egressProxy=PROXY, backupEgress=None), SECRETS)
    assert config.no_proxy() == (
        "localhost",
        "127.0.0.1",
        "169.254.169.254",
        "168.63.129.16",
        ".svc",
        ".cluster.local",
        "10.0.0.0/16",  # the service range (AKS Engine's default)
        "10.10.0.0/16",  # the VNet: nodes, masters and, with Azure CNI, pods
        "hub-seattle.seattle.cloudapp.azurestack.contoso.com",  # the API server
        "management.seattle.azurestack.contoso.com",  # ARM
        ".seattle.azurestack.contoso.com",  # the hub's storage, AD FS, Key Vault
    )


def test_the_users_entries_come_last_and_the_backup_pods_reach_the_proxy() -> None:
    proxy = {**PROXY, "noProxy": ["registry.contoso.local", "10.200.0.0/16"]}
    config = validate(HubConfig, "hub-seattle", seattle(egressProxy=proxy, backupEgress=None), SECRETS)
    assert config.no_proxy()[-2:] == ("registry.contoso.local", "10.200.0.0/16")
    assert config.backup_egress_rules() == [("10.10.8.4/32", 3128)]


BAD = [
    ({"httpProxy": "https://10.10.8.4:3128"}, "stackhub-ha:egressProxy.httpProxy = 'https://10.10.8.4:3128'"),
    ({"httpProxy": "http://10.10.8.4"}, "stackhub-ha:egressProxy.httpProxy = 'http://10.10.8.4'"),
    ({**PROXY, "noProxy": ["*"]}, "stackhub-ha:egressProxy.noProxy[0] = '*'"),
    ({**PROXY, "noProxy": ["10.10.8.0/24"]}, "stackhub-ha:egressProxy.noProxy = "),
    (
        {**PROXY, "trustedCa": "not a certificate"},
        "stackhub-ha:egressProxy.trustedCa = (a PEM bundle of 17 characters)",
    ),
    ({"httpProxy": "http://proxy.contoso.local:3128"}, "stackhub-ha:egressProxy.addresses = "),
]


@pytest.mark.parametrize(("proxy", "expected"), BAD, ids=[e.split(" = ")[0].split(".", 1)[1] for _, e in BAD])
def test_a_bad_egress_proxy_is_named_by_its_sub_key(proxy: dict[str, Any], expected: str) -> None:
    problems = problems_for(seattle(egressProxy=proxy, backupEgress=None))
    assert len(problems) == 1, problems
    assert problems[0].startswith(expected), problems


def test_credentials_in_a_plain_text_proxy_url_are_refused_without_being_shown() -> None:
    problems = problems_for(seattle(egressProxy={"httpProxy": "http://svc:Pa55word@10.10.8.4:3128"}, backupEgress=None))
    assert len(problems) == 1
    assert problems[0].startswith("stackhub-ha:egressProxy.httpProxy = ")
    assert "Pa55word" not in problems[0]
    assert "secret" in problems[0]


def test_credentials_are_accepted_when_the_key_is_a_secret() -> None:
    proxy = {"httpProxy": "http://svc:Pa55word@10.10.8.4:3128"}
    config = validate(
        HubConfig, "hub-seattle", seattle(egressProxy=proxy, backupEgress=None), SECRETS | {"egressProxy"}
    )
    assert config.proxy() is not None
    assert config.proxy().has_credentials  # type: ignore[union-attr]


def test_a_trusted_ca_that_is_a_ca_is_accepted() -> None:
    proxy = {**PROXY, "trustedCa": certificate_pem()}
    config = validate(HubConfig, "hub-seattle", seattle(egressProxy=proxy, backupEgress=None), SECRETS)
    assert len(config.proxy().ca_certificates()) == 1  # type: ignore[union-attr]


def test_backup_egress_addresses_and_a_proxy_are_one_setting_too_many() -> None:
    problems = problems_for(seattle(egressProxy=PROXY))
    assert problems == [
        "stackhub-ha:backupEgress = ['20.60.0.0/16', '20.150.0.0/16']: leave it unset with egressProxy: the backup "
        "pods then reach the storage through the proxy, and nothing else outside the cluster"
    ]


def test_a_hub_preview_with_a_proxy_shows_its_no_proxy_list_and_one_without_shows_none(tmp_path: Any) -> None:
    values = {f"stackhub-ha:{k}": v for k, v in seattle(egressProxy=PROXY, backupEgress=None).items()}
    with_proxy = run_stack("hub-seattle", config=values, secret_keys={f"stackhub-ha:{k}" for k in SECRETS},
                           stack_outputs={"shared": shared_outputs()})  # fmt: skip
    assert with_proxy.plain_outputs["egressNoProxy"][-1] == ".seattle.azurestack.contoso.com"
    without = run_stack("hub-seattle", stack_outputs={"shared": shared_outputs()})
    assert "egressNoProxy" not in without.outputs
    assert REDACTED not in str(with_proxy.plain_outputs["egressNoProxy"])


def test_the_node_configurator_needs_an_image_the_nodes_reach_without_the_proxy() -> None:
    assert problems_for(seattle(egressProxy=PROXY, backupEgress=None, egressNodeImage=None)) == [
        "stackhub-ha:egressNodeImage = (not set): is required with egressProxy: the nodes' proxy configurator needs "
        "a pinned image from a registry they reach without the proxy (the site's mirror)"
    ]
    (problem,) = problems_for(seattle(egressProxy=PROXY, backupEgress=None, egressNodeImage="python:3.12.8-slim"))
    assert problem.startswith("stackhub-ha:egressNodeImage = 'python:3.12.8-slim': is pulled from docker.io")
