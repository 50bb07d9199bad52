"""Business continuity of the ratings database: encrypted off-hub backups, verified restores.

- `pod`: what runs in the pods (stdlib-only Python, shipped in a ConfigMap): counting the archive, the Blob client,
  the upload, the fetch, the verification report.
- `scripts`: the steps that run in the official mongo image (mongodump, openssl cms, mongorestore, mongod).
- `jobs`: the backup and verification CronJobs, the restore Job and their NetworkPolicies, as Kubernetes dicts.
- `settings`: checks of the hub stack's backup settings and the values derived from them.
"""
