"""Fakes of the services the project talks to, for tests that must not leave this machine."""
