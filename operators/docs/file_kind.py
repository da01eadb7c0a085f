"""What a document input really is, from its first bytes: a `.pdf` that is a PNG, a web page or a zip is
refused by name (`NotAPdf`) before any rendering, instead of being rendered by PyMuPDF's image or
text readers and then filtered for a misleading reason."""
from __future__ import annotations

from operators.base import Reject
from schemas.tables import QUARANTINE

#: the input kinds of a docs build, by file extension (`corpus.inputs.expand_inputs`)
DOC_KINDS = {".pdf": "pdf", **{e: "image" for e in (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".webp", ".bmp")}}
PDF_MAGIC = b"%PDF-"
HEADER_WINDOW = 1024  # the PDF header may follow up to 1 KiB of junk (as viewers accept)
MAGIC = ((b"\x89PNG\r\n\x1a\n", "a PNG image"), (b"\xff\xd8\xff", "a JPEG image"), (b"GIF8", "a GIF image"),
         (b"II*\x00", "a TIFF image"), (b"MM\x00*", "a TIFF image"), (b"PK\x03\x04", "a zip archive (DOCX, EPUB, ...)"),
         (b"\xd0\xcf\x11\xe0", "an old Office document"), (b"{\\rtf", "an RTF document"), (b"RIFF", "a RIFF file (WebP, AVI, ...)"))


def describe_bytes(data: bytes) -> str:
    """A short name for what `data` looks like ("a PNG image", "text or HTML", "unknown binary data")."""
    for magic, name in MAGIC:
        if data.startswith(magic):
            return name
    head = data[:512].lstrip()
    if head[:1] == b"<":
        return "HTML or XML"
    if not data:
        return "an empty file"
    return "text" if all(b in b"\t\n\r" or 32 <= b < 127 for b in head[:256]) else "unknown binary data"


def check_pdf(data: bytes) -> None:
    """Raise `Reject` (quarantine, `NotAPdf`) unless `data` has a PDF header in its first KiB."""
    if PDF_MAGIC not in data[:HEADER_WINDOW]:
        raise Reject(f"not a PDF: no %PDF- header, the file looks like {describe_bytes(data)}; give images to "
                     "`mmcorpus images build` (or name them .png/.jpg to build them as scanned pages)",
                     QUARANTINE, error_type="NotAPdf")
