"""Tests of the plugin registry and `unity plugins` on real databases."""
