"""A long pipeline: 30 steps of one second, so its live log has time to be watched."""

import time

for step in range(1, 31):
    print(f"report step {step}/30", flush=True)
    time.sleep(1)
print("report done")
