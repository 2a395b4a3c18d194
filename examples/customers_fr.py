"""The .py twin of customers_fr.ampln: keep the French customers of data/customers.csv.

Paths are relative: the scheduler runs a pipeline in its own folder.
"""

from pathlib import Path

import pandas as pd

customers = pd.read_csv("data/customers.csv")
french = customers[customers["country"] == "France"]
Path("output").mkdir(exist_ok=True)
french.to_csv("output/customers_fr.csv", index=False)
print(f"{len(french)} of {len(customers)} customers are in France -> output/customers_fr.csv")
