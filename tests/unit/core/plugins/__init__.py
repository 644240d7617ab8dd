"""Tests of unity_core.plugins: discovery, options, instances, the runner, the test helpers."""
