"""The web face of Ampflow: the operator console (`/console`), the driver pages (`/driver`)
and the guest charging pages (`/charge`), server-rendered with Jinja2 and served by the API.

Pages read through the JSON API in-process (`inner.py`) with the caller's own credentials, so the
same routes, services and role table (`domain/roles.py`) answer the browser and every other
client. Controls in the pages call the JSON API routes themselves (`static/console.js`), signed in
by the console's session cookie with a CSRF token (`cookies.py`).
"""
