"""Shared plumbing for every stage: validation, row selection, refits, parallel maps, results.

Modules in this package are the only ones other stages may import helpers from (besides each
stage's own package namespace); nothing here imports a stage.
"""
