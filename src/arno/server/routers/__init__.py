"""One module per resource; each holds HTTP concerns only and calls ``services``."""
