"""The Jining demo: `minan demo-data` runs every app's demo builder in order (the one place that
knows all apps)."""
