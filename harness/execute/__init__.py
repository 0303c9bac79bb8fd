"""Processes: Locust, the platform supervisor, samplers, the metrics scrape, py-spy, the fault scheduler."""
