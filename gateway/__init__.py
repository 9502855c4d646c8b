"""The OCPP-J gateway: sockets, framing, station identity, per-version adapters, delivery."""
