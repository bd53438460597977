"""Specs: the TOML of a run or a sweep, validated once into plain dataclasses before any work."""
