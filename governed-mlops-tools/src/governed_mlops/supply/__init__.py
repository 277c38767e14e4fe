"""The supply chain of a project: its dependencies scanned for known
vulnerabilities (:mod:`.scan`, waivers in :mod:`.waivers`, reports in
:mod:`.reports`) for ``mlops ci audit``, and CycloneDX SBOMs of its envs
(:mod:`.sbom`) for ``mlops ci sbom`` and each stage run's record."""
