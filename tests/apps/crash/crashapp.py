"""A test app that cannot start: it fails at import, as a broken deploy would."""

raise RuntimeError("crashapp refuses to start")
