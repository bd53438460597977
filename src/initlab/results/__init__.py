"""Results on disk: experiment records (JSON), the sweep store (SQLite), tables and labels."""
