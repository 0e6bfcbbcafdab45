"""Behaviour suites per port, written once, run against the fakes AND the real adapters.

Each suite is a class of tests; a test module subclasses it and provides the
fixtures the class docstring names. That is what keeps a fake from drifting
from the adapter it stands for.
"""
