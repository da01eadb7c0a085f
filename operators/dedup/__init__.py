"""The dedup decision shared by pages and images, as pure steps that Ray tasks (or a test) run over
signature files: `buckets` (candidate links by LSH band value) and `verify` (each link measured on the
signatures); each kind resolves the measured links with its own keep rule (`operators.docs.dedup_decision`,
`operators.images.dedup`)."""
