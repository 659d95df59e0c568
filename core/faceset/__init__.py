"""Faceset tools: sort, clean, filter, merge, rebuild and report on the faces a model trains on."""
