"""Tests of the redis plugin against real redis-server processes on loopback."""
