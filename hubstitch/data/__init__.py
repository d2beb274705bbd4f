"""Data: anchor sets (pairs and their provenance), the latent cache, streamed `AnchorStatistics`, and
`fit_from_encoders` (anchors -> both encoders -> a fitted translator).
"""
