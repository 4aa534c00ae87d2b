"""Label and document rendering: plain data in, PDF/ZPL bytes out. No database, no Flask."""
