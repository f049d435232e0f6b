"""Internals of the capture engine; the public surface is ``estuary_cdk.capture.common``."""
