"""Work records and indicators — issue 5."""
