"""What runs on each hub's cluster, as plain data and arithmetic (no Pulumi): chart sources and Helm values, the
log shipper's configuration, replica sizing, the Mongo replica set, pod security and NetworkPolicy analysis.

`components/cluster_platform.py` and `components/ratings_app.py` turn these into resources; the tests check the
decisions here directly.
"""
