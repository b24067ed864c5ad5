"""`obm`, the one command-line tool, and the embedded local stack it runs."""
