#!/usr/bin/env python3
"""The SQLite peer's replay: every stored command line read back in order, decoded
(json.loads) and folded into a running sum per member (the wage of each contribution, a count
of the rest), as the storage issue measured it. Usage: sqlite_replay.py PEER.db; prints rows/s."""
import json, sqlite3, sys, time

db = sqlite3.connect(sys.argv[1])
t = time.time()
totals = {}
rows = 0
for member, body in db.execute("select member, body from events order by position"):
    command = json.loads(body)
    wage = command.get("wage")
    totals[member] = totals.get(member, 0) + (int(wage.replace(".", "")) if wage else 0)
    rows += 1
dt = time.time() - t
print(f"sqlite replay: {rows} rows in {dt:.2f} s = {rows/dt:.0f}/s ({len(totals)} members)")
