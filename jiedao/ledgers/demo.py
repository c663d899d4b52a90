"""Demo records of this app for `jiedao demo` (deterministic, idempotent)."""


def load(by, units) -> list[str]:
    """Load the demo records; return lines for the command to print."""
    return []
