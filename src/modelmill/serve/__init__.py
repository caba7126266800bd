"""Online prediction service (FastAPI): ``modelmill serve``."""
