"""Platform connectors: one module per platform behind one small interface (``connectors.base``)."""
