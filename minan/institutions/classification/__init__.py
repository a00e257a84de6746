"""Risk classes: deriving a class from the facts (`derive`), storing it and editing the scheme (`services`), pages (`views`)."""
