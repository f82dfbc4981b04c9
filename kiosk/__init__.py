"""The Vitrina kiosk: the device application that sees, decides, shows and reports."""

__version__ = "0.1.0"
