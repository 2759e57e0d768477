"""The remote side: the POSIX sh wrapper shipped to each host, and what it prints."""
