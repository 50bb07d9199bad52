"""The stackhub-ha policy pack folder, as `pulumi policy publish` ships it; the project imports its policies as
`policy.stackhub_policies` (see docs/policy.md)."""
