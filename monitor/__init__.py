"""channel-monitor: which of an organisation's social media channels have gone quiet."""

__version__ = "0.1.0"
