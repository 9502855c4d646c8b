"""What every process of Ampflow shares at run time: settings, the Temporal connection and its
payload codec, and the station-key store. Any package may import it; it imports only `domain`."""

__version__ = "0.1.0"
