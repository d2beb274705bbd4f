"""Encoders: `Encoder.from_pretrained(model_id)` for text, image and dual checkpoints, and the poolings."""
