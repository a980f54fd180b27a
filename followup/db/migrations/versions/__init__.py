"""One module per revision, oldest first (``0001_...``)."""
