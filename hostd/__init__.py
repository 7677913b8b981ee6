"""hostd: a multi-site hosting agent for Flask/WSGI sites on one Linux box."""

__version__ = "0.1.0"
