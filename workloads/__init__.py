"""What runs on each hub's cluster, as plain data and arithmetic (no Pulumi): chart sources and Helm values, the
log shipper's configuration, replica sizing, the Mongo replica set, the backup jobs, the egress proxy's pieces.

`components/cluster_platform.py` and `components/ratings_app.py` turn these into resources; the tests check the
decisions here directly.
"""
