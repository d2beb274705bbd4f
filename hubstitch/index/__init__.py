"""Vector indexes across models: store-agnostic batch translation (`stream`) and the LanceDB adapter (`lancedb_store`:
build, query with a stitched encoder, migrate a table into another model's space with all-or-nothing publication).
LanceDB is an extra: ``pip install 'hubstitch[index]'``.
"""
