#!/usr/bin/env python3
"""The disk's limit for durable appends: groups of 512 records of 200 bytes appended to one file,
each group followed by fdatasync. Usage: fdatasync_limit.py FILE [GROUPS]; prints records/s."""
import os, sys, time

path = sys.argv[1]
groups = int(sys.argv[2]) if len(sys.argv) > 2 else 600
record = b"x" * 199 + b"\n"
group = record * 512
fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
t = time.time()
for _ in range(groups):
    os.write(fd, group)
    os.fdatasync(fd)
dt = time.time() - t
os.close(fd)
os.remove(path)
print(f"fdatasync: {groups * 512} records in {dt:.2f} s = {groups * 512 / dt:.0f}/s")
