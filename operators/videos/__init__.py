"""Video operators: frames sampled with timestamps and temporal ids, decoded under a hard time limit, and
video samples."""
