"""The nginx edge: raw-HTTP probes (CORS, bursts) and a real headless browser."""
