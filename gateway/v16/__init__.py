"""OCPP 1.6J adapter: the route table and one module per functional block."""
