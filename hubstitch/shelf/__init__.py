"""The offline model shelf: real checkpoints and labelled data from package registries, laid out so that they
resolve by Hub id offline; the conversions they need; the quick starts built on them.

A face of the library: it may import every wing, and no library wing imports it.
"""
