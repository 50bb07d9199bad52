"""Offline preview: run a stack's program under the mock engine and show what it would create."""
