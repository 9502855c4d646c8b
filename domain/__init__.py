"""Pure business logic: no I/O, importable from workflows (sandbox-safe)."""
