"""Image operators: fingerprint and deduplicate, decode and verify within the pixel budget, filter by size,
and make caption or conversation samples."""
