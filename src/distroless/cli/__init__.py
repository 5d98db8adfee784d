"""The command line: the only part of the project that talks to the terminal."""
