"""The device writers by concept: the registry, the spreadsheet import, credentials, unregistered senders."""
