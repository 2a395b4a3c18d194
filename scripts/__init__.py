"""Developer scripts (the demo launcher behind `make run`)."""
