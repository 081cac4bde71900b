"""What every lume-prefect service shares. Imports no service, and nothing heavy at import time
(code that runs inside a Slurm job or a worker process imports this)."""
