"""Customer service: the console's reads and actions on any order of the chain."""
