"""HubSpot API calls: one module per call pattern (client, limits, properties, listings, reads)."""
