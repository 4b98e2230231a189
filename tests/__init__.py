"""Tawasul Hub tests."""
