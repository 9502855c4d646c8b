"""Ampflow: an open-source charging management system built on Temporal."""

__version__ = "0.1.0"
