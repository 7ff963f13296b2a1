"""Reports: summaries and plots built only from what runs wrote."""
