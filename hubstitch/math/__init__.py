"""The math room: preprocessing, estimators, relative projections and streaming statistics.

Imports torch and numpy only, never transformers, huggingface_hub, datasets or gradio, so that it is fast to test
and reusable on any latents.
"""
