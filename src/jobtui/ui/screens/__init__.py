"""Screens of the console: main, detail, help and the confirmation modal."""
