"""Tests of the system plugin against this machine."""
