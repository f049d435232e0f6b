"""Local Flow runtime."""
