"""Ampflow: an open-source charging management system built on Temporal.

This package is the command line (`ampflow`) and the dev stack; nothing but tests, `chaos/` and
benchmarks imports it."""

from runtime import __version__ as __version__
