"""Marshmallow schemas for every request and response, one module per resource."""
