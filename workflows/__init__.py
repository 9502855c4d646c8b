"""Temporal workflows: deterministic and sandbox-safe (they import only domain and temporalio)."""
