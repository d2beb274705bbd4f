"""Model card templates shipped with hubstitch (installed as the `hubstitch.model_cards` package)."""
