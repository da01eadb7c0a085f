"""Operators: plain classes that turn rows into rows, usable without Ray, on the contract of `operators.base`;
grouped by modality (`docs`, `images`, `videos`), with the helpers the modalities share beside the base."""
