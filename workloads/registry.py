"""Registry credentials as Kubernetes wants them. Pure functions, no Pulumi."""

from __future__ import annotations

import base64
import json


def docker_config_json(server: str, username: str, password: str) -> str:
    """The `.dockerconfigjson` of a `kubernetes.io/dockerconfigjson` Secret for one registry (holds the password)."""
    auth = base64.b64encode(f"{username}:{password}".encode()).decode()
    return json.dumps({"auths": {server: {"username": username, "password": password, "auth": auth}}}, sort_keys=True)
