"""Tests of the unity plugin against real databases, Redis and broker folders."""
