"""Fault injection for the chaos suite: a TCP proxy that cuts or delays a link on command."""
