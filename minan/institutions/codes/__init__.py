"""一院一码: rendering the public code (`render`: URLs, QR images, printable sheets, ZIP), rotating, revoking and restoring it (`services`), pages (`views`)."""
