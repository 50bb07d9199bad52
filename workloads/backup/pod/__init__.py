"""What runs inside the backup, restore and verification pods: stdlib-only Python, shipped in a ConfigMap.

The ConfigMap holds these files flat; the pod mounts it as a package directory and runs a module with `python -S
-m <package>.<module>` (`-S`: no site-packages, so nothing but the standard library can be imported). Modules
import each other relatively, so the same files are `workloads.backup.pod` here and the mounted package there.
"""
