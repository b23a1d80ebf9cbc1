"""Limits: plans, assignments, entitlement checks and consumes, answered from memory (docs/limits.md)."""
