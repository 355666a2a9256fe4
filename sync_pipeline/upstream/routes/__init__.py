"""HTTP routes of the reference upstream, one module per source plus the admin endpoints."""
