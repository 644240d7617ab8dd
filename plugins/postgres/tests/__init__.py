"""Tests of the postgres plugin against the real PostgreSQL on loopback."""
