"""Built-in compatibility methods, each a plugin registered through the `bench` entry points."""
