"""The shared vocabulary every layer of obs-gate speaks; imports nothing from obs-gate above it."""
