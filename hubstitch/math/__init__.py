"""The math wing: preprocessing, estimators, relative projections, streaming statistics, anchor selection.

Imports torch, numpy and `hubstitch.errors` only, never transformers, huggingface_hub, datasets or gradio, so that it
is fast to test and reusable on any latents.
"""
