"""The version of multirnn, written into every saved file."""
__version__ = "0.1.0"
