"""Domain: plain data, the backend port and the error tree. Imports no framework."""
