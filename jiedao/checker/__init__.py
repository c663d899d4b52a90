"""The report checker — issue 6."""
