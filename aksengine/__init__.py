"""AKS Engine on Azure Stack Hub: the cluster definition, its rules, and the lifecycle pulumi-command runs.

- `aksengine.versions`: the pinned aks-engine-azurestack release and its Kubernetes versions.
- `aksengine.apimodel`: settings, validation, the vlabs apimodel builder and change planning (pure).
- `aksengine.lifecycle`: `python -m aksengine.lifecycle create|update|delete`.
"""
