"""Document operators (paper §2.2.3): PDFs and page images → split → rendered pages with text regions →
OCR where the text layer is missing or untrustworthy → region filter → corrupted-region and transcription samples."""
