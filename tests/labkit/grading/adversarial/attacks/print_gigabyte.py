# Attack: print a gigabyte (through print's stream, then straight to the file descriptor).
import os
import sys

_chunk = "x" * 2**20
for _ in range(1024):
    sys.stdout.write(_chunk)
for _ in range(1024):
    os.write(1, _chunk.encode())
