"""The read-only web UI (``modelmill ui``): artifacts, versions and lineage, runs, sweeps."""
