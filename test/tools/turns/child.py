"""A child of test/tools/bench-turns.test.ts, in Python: the same as child.ts, through bench/pytorch/common.py."""
import json
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "..", "bench", "pytorch"))
import common  # noqa: E402

iterations, ms = int(sys.argv[1]), float(sys.argv[2])
turns = common.Turns()
spans = []
for _ in range(iterations):
    turns.point()
    t0 = time.time() * 1000
    while time.time() * 1000 - t0 < ms:
        pass
    spans.append([t0, time.time() * 1000])
turns.end()
print(json.dumps(spans))
