"""Run data in, results out: requests and journeys, memory, platform metrics, reconciliation, judging."""
