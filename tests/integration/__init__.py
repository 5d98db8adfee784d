"""Tests that drive real components: a Docker engine, a registry, skopeo, umoci, runc."""
