"""The installed version of initlab, in one place."""

__version__ = "0.1.0"
