"""channel-monitor: tells a public organisation which of its social media channels have gone quiet."""

__version__ = "0.1.0"
