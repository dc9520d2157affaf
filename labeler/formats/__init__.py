"""Importers and exporters: reading rows from files strictly, and turning rows into typed items."""
