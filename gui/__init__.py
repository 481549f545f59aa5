"""Regsweep desktop window: Qt widgets, models and the worker bridge."""
