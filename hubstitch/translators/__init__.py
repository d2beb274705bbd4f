"""The translator artifact: `Translator` (save / load / push), its `TranslatorConfig`, `fit_translator`, its model
card, composition of translators, and the search for published ones.
"""
