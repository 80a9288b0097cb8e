"""Turning check outcomes into a verdict: policy, results, scoring, reports, and the pytest plugin."""
