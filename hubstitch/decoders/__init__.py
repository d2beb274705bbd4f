"""Decoders that generate: `Decoder.from_pretrained(id)` takes the text decoder of an encoder-decoder checkpoint
(Whisper first) and generates from encoder states with transformers' own ``generate``.
"""
