"""Generative search testing (issue 14): Hypothesis-generated R4 searches judged by the search oracle.

Kept import-light: `imgconf fuzz --help` and the plugin must not pull Hypothesis or httpx in.
"""
