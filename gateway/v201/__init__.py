"""OCPP 2.0.1 adapter: the route table, command translators and one module per functional block.

Modules follow the spec's functional blocks (OCPP 2.0.1 Part 2): A security, B provisioning,
C authorization, E transactions, G availability, H reservation, J meter values, K smart
charging, L firmware, N diagnostics, P data transfer.

Neutral model mapping: a 1.6 connector is a 2.0.1 EVSE. Connector status, sessions and commands
use the EVSE id where the neutral model says `connector_id`.
"""
