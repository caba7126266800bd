"""Pipeline factories named by ``main.pipeline``."""
