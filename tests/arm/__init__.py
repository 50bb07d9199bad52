"""Tests of the ARM dynamic provider for Azure Stack Hub (arm/)."""
