"""Tests of the aksengine package: settings rules, apimodel, change plans and the lifecycle."""
