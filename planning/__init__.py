"""Pure planning logic (addresses, rules, quotas): plain functions tested without Pulumi."""
