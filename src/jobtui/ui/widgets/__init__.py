"""Widgets of the console: the run table and the summaries."""
