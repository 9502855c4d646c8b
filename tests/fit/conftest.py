"""Fixtures of the fit-and-finish tests: the access tests' app (recording mailer) and client."""

from tests.access.conftest import app, http  # noqa: F401  (fixtures)
