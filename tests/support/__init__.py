"""Helpers shared by the test rings (paths, the shared-server fixtures, a small disk)."""
