"""Estuary connector development kit (placeholder until the process framework lands)."""
