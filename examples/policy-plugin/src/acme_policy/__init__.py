"""ACME's policy rules (a governed-mlops policy plugin)."""
