"""Payment providers behind one interface; chosen by settings."""
