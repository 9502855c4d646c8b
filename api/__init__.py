"""The HTTP API (FastAPI): operators and integrations. It never talks to chargers directly."""
