"""deepaudit application layer: the ``deepaudit`` command line (above models/, audit/ and reports/)."""
__version__ = "0.1.0"
__all__ = ["__version__"]
