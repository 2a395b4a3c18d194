"""A tiny pipeline: prints progress for a few seconds, then a summary."""

import time

for step in range(1, 6):
    print(f"step {step}/5: working...", flush=True)
    time.sleep(1)
print("done: 5 steps")
