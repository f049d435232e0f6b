"""Shared helpers of the capture-engine tests."""
