"""Stand-ins for the MongoDB tools (no MongoDB server can be installed here), run as executables on PATH."""
