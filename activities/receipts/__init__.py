"""Receipts: gap-free numbered, as HTML and PDF, e-mailed when SMTP is configured."""
