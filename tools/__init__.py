"""Maintainer tools that are not part of the installed library (e.g. rebuilding the shipped assets)."""
