"""The Gradio app (the Space in ``spaces_demo/``): stages, plots, and the assets it ships.

A face of the library: it may import every wing, and no library wing imports it.
"""
