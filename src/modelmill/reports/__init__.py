"""Self-contained HTML reports: EDA profile, data check, training and evaluation."""
