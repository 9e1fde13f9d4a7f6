#!/usr/bin/env python3
"""Times shell commands side by side; the fallback when hyperfine is missing.

Usage: timeit.py RUNS WARMUP PREPARE OUT.json CMD...  (PREPARE: "" for none)
Writes hyperfine-compatible JSON: results[].{command,times,user}.
"""
import json, os, subprocess, sys, time

runs, warmup, prepare, out = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], sys.argv[4]
results = []
for cmd in sys.argv[5:]:
    times, user = [], []
    for i in range(warmup + runs):
        if prepare:
            subprocess.run(prepare, shell=True, check=True)
        before = os.times()
        start = time.perf_counter()
        subprocess.run(cmd, shell=True, check=True, stdout=subprocess.DEVNULL)
        elapsed = time.perf_counter() - start
        after = os.times()
        if i >= warmup:
            times.append(elapsed)
            user.append(after.children_user - before.children_user)
    results.append({"command": cmd, "times": times, "user": sum(user) / len(user)})
json.dump({"results": results}, open(out, "w"))
