"""The registry's spreadsheet: the file format (`xlsx`), the import and its background job (`services`), pages (`views`)."""
