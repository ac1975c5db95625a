"""lambdalite: AWS Lambda, self-hosted, in Python."""

__version__ = "0.1.0"
