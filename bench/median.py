#!/usr/bin/env python3
"""Prints the median wall time (ms) of each command in a hyperfine JSON file,
and the ratio of each to the last one.

Usage: median.py FILE.json
"""
import json, statistics, sys

results = json.load(open(sys.argv[1]))["results"]
medians = [statistics.median(r["times"]) for r in results]
for r, m in zip(results, medians):
    print(f"  {m * 1000:9.1f} ms median ({len(r['times'])} runs, "
          f"min {min(r['times']) * 1000:.1f}, max {max(r['times']) * 1000:.1f})  {r['command']}")
for r, m in zip(results[:-1], medians[:-1]):
    print(f"  ratio {m / medians[-1]:.2f}  ({r['command']} / {results[-1]['command']})")
