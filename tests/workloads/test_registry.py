"""Registry credentials for image pull Secrets."""

from __future__ import annotations

import base64
import json

from workloads.registry import docker_config_json


def test_docker_config_holds_the_registry_login_in_the_format_kubelet_reads() -> None:
    document = json.loads(docker_config_json("contosoratings.azurecr.io", "hub-pull", "p@ss:word"))
    entry = document["auths"]["contosoratings.azurecr.io"]
    assert (entry["username"], entry["password"]) == ("hub-pull", "p@ss:word")
    assert base64.b64decode(entry["auth"]).decode() == "hub-pull:p@ss:word"
