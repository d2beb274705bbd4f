"""Engines: where the expensive parts (encoding anchor banks, migrating indexes) run. Ray (``hubstitch[ray]``) is
imported lazily, only when ``engine="ray"`` is asked for; nothing else in hubstitch depends on it."""
