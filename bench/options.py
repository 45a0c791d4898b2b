"""The choices the command line offers for how units run, defined apart from the modules
that act on them so that the parser needs none of those (nor torch) to be imported."""

BACKENDS = ("loky", "dask", "ray")  # where units run: this machine, or a cluster
OVERWRITE = ("only-missing", "always", "never")  # what happens to existing result files
