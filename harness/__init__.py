"""Performance and reliability testing harness for the e-commerce platform."""

__version__ = "0.1.0"
