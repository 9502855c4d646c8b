"""Every table of Ampflow, registered on `SQLModel.metadata` (for Alembic and schema checks).

Table modules never import each other's features: `store/tables.py` holds the core tables and
each feature keeps its own module; this module is the one place that imports them all.
"""

import store.access_tables  # noqa: F401  (access control, migration 0004)
import store.billing_tables  # noqa: F401  (billing, migration 0003)
import store.certificate_tables  # noqa: F401  (station certificates, migration 0013)
import store.maintenance_tables  # noqa: F401  (maintenance, migration 0005)
import store.monitoring_tables  # noqa: F401  (monitoring, migration 0006_monitoring)
import store.report_tables  # noqa: F401  (charger reports, migration 0011)
import store.site_load_tables  # noqa: F401  (site load management, migration 0013_site_load)
import store.tables  # noqa: F401  (stations, sessions, payments, receipts, locations)
