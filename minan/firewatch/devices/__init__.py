"""The device registry: its writers, pages, forms and API, device credentials, unregistered senders."""
