"""The supply chain of a project: its dependencies scanned for known
vulnerabilities (:mod:`.scan`, waivers in :mod:`.waivers`, reports in
:mod:`.reports`), for ``mlops ci audit``."""
