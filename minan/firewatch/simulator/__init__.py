"""The device simulator behind `minan simulate`: JSON devices (MQTT, HTTP push) and GB/T 26875.3 devices."""
