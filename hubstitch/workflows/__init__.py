"""Orchestration above the wings: from encoders and an anchor set to a fitted translator, on this machine or a
Ray cluster (`fit_from_encoders`; sequence translators for generating decoders). It imports data/, translators/,
engines/ and decoders/; none of them imports it.
"""
