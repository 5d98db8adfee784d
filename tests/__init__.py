"""Test suite of distroless; a package so that ``tests.helpers`` imports the same way everywhere."""
