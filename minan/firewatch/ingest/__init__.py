"""Signals in: MQTT, HTTP push, the GB/T 26875.3 server and client, the codec, and the one recorder of signals."""
