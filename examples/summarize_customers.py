"""Runs after the French customers pipeline succeeds: reads what it wrote."""

import csv
from pathlib import Path

rows = list(csv.DictReader(Path("output/customers_fr.csv").open(encoding="utf-8")))
print(f"{len(rows)} French customers: {', '.join(r['name'] for r in rows)}")
