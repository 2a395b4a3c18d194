"""A pipeline that fails: its source answers an error, so the run ends with exit code 1.

It shows what a failing job looks like (its status, its stderr, a retry)."""

import sys

print("connecting to the orders API...", flush=True)
print("error: the orders API answered 503 Service Unavailable", file=sys.stderr, flush=True)
sys.exit(1)
