"""The Hub: resolving revisions and files, one-commit uploads with timeouts, reading artifacts, card templates, and
seeding the local Hub cache.
"""
