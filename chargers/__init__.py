"""Virtual chargers: OCPP 1.6J and 2.0.1 charger models that behave like hardware.

Used by `ampflow simulate`, the tests, the chaos suite and the benchmarks. See README.md for
what a charger does, its switches and its journal (JSON lines) format.
"""

from chargers.charger import Charger, basic_auth_header
from chargers.config import Behaviour, ChargerConfig
from chargers.connector import Transaction
from chargers.journal import Journal, read

__all__ = [
    "Behaviour",
    "Charger",
    "basic_auth_header",
    "ChargerConfig",
    "Journal",
    "Transaction",
    "read",
]
