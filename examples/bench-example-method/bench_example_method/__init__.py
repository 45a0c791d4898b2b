"""An example compat-bench method plugin (see docs/writing-plugins.md of compat-bench)."""
