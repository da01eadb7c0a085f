"""One deduplication design for every corpus: signature files per shard beside the shards
(`signatures`), a decision in Ray tasks keyed by band values (`decision`), and each kind's signatures,
measure and keep rule (`pages`: MinHash of page text; `images`: sha256 and pHash)."""
