"""Fake platform servers on 127.0.0.1, for tests and the ``demo`` command."""
